// Reading ocinet's elements back from libnftables' JSON listings: only for the removals that get
// a tag or a network name and nothing else, and to name who holds a published port. Keys and
// data are rebuilt from validated values, never copied.
#pragma once
#include <string>
#include <vector>

#include "netcore/firewall/nft_elements.h"

namespace ocinet::nft {

// Every element of ocinet's sets and maps in the output of a JSON `list`. An element that does
// not read back as ocinet writes them (one added by hand?) is kept with an empty key.
std::vector<Element> parse_listing(const std::string& listing);
std::vector<Element> parse_listings(const std::vector<std::string>& listings);
// The elements whose comment is exactly `comment`.
std::vector<Element> elements_with_comment(const std::vector<Element>& listed, const std::string& comment);
// The comment of the element that holds e's key (or, for an interval, part of it), "" when free.
std::string owner_in(const std::vector<Element>& listed, const Element& e);

}  // namespace ocinet::nft
