// Other managers' FORWARD chains in nf_tables (foreign_forward.h): iptables-nft's. Its rules are
// read and written over netlink, as iptables-nft itself does, because iptables-nft reads a table
// back only if every rule in it is made of expressions it knows: nft's native `ct state` would
// make it refuse the whole table ("Table `filter' is incompatible, use 'nft' tool"), and with
// it `iptables -L` and `iptables-save` for the manager that owns it. So a conntrack condition
// is the xt match iptables-nft writes for `-m conntrack --ctstate` (nft_compat), interfaces are
// compared as iptables-nft compares them, and the comment is rule userdata, which both nft and
// iptables-nft show (`-m comment --comment`, and `iptables -D` by hand finds the rule).

#include "netcore/firewall/nft_forward.h"

#include <netinet/in.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables_compat.h>
#include <linux/netfilter/x_tables.h>

#include "base/error.h"
#include "netcore/firewall/foreign_forward.h"
#include "netcore/firewall/nft_elements.h"

namespace ocinet::nft {
namespace {

constexpr const char* kForeignTable = "filter";
constexpr const char* kForeignChain = "FORWARD";
// libnftnl's tag for a rule comment in NFTA_RULE_USERDATA (NFTNL_UDATA_RULE_COMMENT).
constexpr uint8_t kUdataRuleComment = 0;

// For messages: "ip filter FORWARD", "ip6 filter FORWARD".
std::string foreign_chain_name(uint8_t nfproto) {
  return std::string(nfproto == NFPROTO_IPV6 ? "ip6 " : "ip ") + kForeignTable + " " + kForeignChain;
}

// Whether `ip[6] filter FORWARD` exists as a base chain on the forward hook. Absent nf_tables
// counts as absent: then there is no such chain.
bool has_foreign_forward(NfNetlink& nl, uint8_t nfproto) {
  NlMessage m((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETCHAIN, NLM_F_REQUEST, nfproto);
  m.attr_str(NFTA_CHAIN_TABLE, kForeignTable).attr_str(NFTA_CHAIN_NAME, kForeignChain);
  bool forward_hook = false;
  const int err = nl.request(std::move(m), (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWCHAIN, [&](const nlmsghdr* nh) {
    each_message_attr(nh, [&](uint16_t type, const char* data, size_t len) {
      if (type != NFTA_CHAIN_HOOK) return;
      each_attr(data, len, [&](uint16_t htype, const char* hdata, size_t hlen) {
        uint32_t num;
        if (htype != NFTA_HOOK_HOOKNUM || hlen != sizeof num) return;
        std::memcpy(&num, hdata, sizeof num);
        forward_hook = ntohl(num) == NF_INET_FORWARD;
      });
    });
  });
  if (err == 0) return forward_hook;
  if (err == ENOENT || err == EAFNOSUPPORT || err == EOPNOTSUPP || err == EPROTONOSUPPORT) return false;
  fail_system("firewall: reading " + foreign_chain_name(nfproto), err);
}

// A rule's comment: its userdata comment (nft, ocinet) or its xt comment match (iptables-nft).
std::string nft_rule_comment(const nlmsghdr* nh) {
  std::string comment;
  each_message_attr(nh, [&](uint16_t type, const char* data, size_t len) {
    if (type == NFTA_RULE_USERDATA) {
      for (size_t at = 0; at + 2 <= len;) {  // type, length, value
        const uint8_t t = uint8_t(data[at]), l = uint8_t(data[at + 1]);
        if (at + 2 + l > len) break;
        if (t == kUdataRuleComment) comment = attr_string(data + at + 2, l);
        at += 2 + l;
      }
    } else if (type == NFTA_RULE_EXPRESSIONS) {
      each_attr(data, len, [&](uint16_t, const char* expr, size_t elen) {
        std::string name, match;
        const char* info = nullptr;
        size_t info_len = 0;
        each_attr(expr, elen, [&](uint16_t etype, const char* edata, size_t edlen) {
          if (etype == NFTA_EXPR_NAME) name = attr_string(edata, edlen);
          if (etype != NFTA_EXPR_DATA) return;
          each_attr(edata, edlen, [&](uint16_t mtype, const char* mdata, size_t mlen) {
            if (mtype == NFTA_MATCH_NAME) match = attr_string(mdata, mlen);
            if (mtype == NFTA_MATCH_INFO) info = mdata, info_len = mlen;
          });
        });
        if (name == "match" && match == "comment" && info) comment = attr_string(info, info_len);
      });
    }
  });
  return comment;
}

// The handles (as the kernel encodes them) of the rules of `ip[6] filter FORWARD` with this comment.
std::vector<std::string> foreign_rules_with_comment(NfNetlink& nl, uint8_t nfproto, const std::string& comment) {
  for (int attempt = 0;; ++attempt) {
    std::vector<std::string> handles;
    NlMessage m((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETRULE, NLM_F_REQUEST | NLM_F_DUMP, nfproto);
    m.attr_str(NFTA_RULE_TABLE, kForeignTable).attr_str(NFTA_RULE_CHAIN, kForeignChain);
    const int err = nl.dump(std::move(m), (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE, [&](const nlmsghdr* nh) {
      std::string table, chain, handle;
      each_message_attr(nh, [&](uint16_t type, const char* data, size_t len) {
        if (type == NFTA_RULE_TABLE) table = attr_string(data, len);
        if (type == NFTA_RULE_CHAIN) chain = attr_string(data, len);
        if (type == NFTA_RULE_HANDLE) handle.assign(data, len);
      });
      if (table == kForeignTable && chain == kForeignChain && !handle.empty() && nft_rule_comment(nh) == comment)
        handles.push_back(handle);
    });
    if (err == 0) return handles;
    if (err == ENOENT) return {};  // the table or chain went meanwhile
    if (err != EINTR || attempt == 2) fail_system("firewall: listing the rules of " + foreign_chain_name(nfproto), err);
  }
}

// The expressions of one accept, as iptables-nft writes `-i BR -o BR -m conntrack --ctstate S -j ACCEPT`.
void add_accept_expressions(NlMessage& m, const ForwardAccept& a, const std::string& bridge) {
  auto expr = [&](const char* name, auto data) {
    const size_t elem = m.begin(NFTA_LIST_ELEM);
    m.attr_str(NFTA_EXPR_NAME, name);
    const size_t d = m.begin(NFTA_EXPR_DATA);
    data();
    m.end(d);
    m.end(elem);
  };
  auto iface = [&](uint32_t key) {
    expr("meta", [&] { m.attr_be32(NFTA_META_KEY, key).attr_be32(NFTA_META_DREG, NFT_REG_1); });
    expr("cmp", [&] {
      m.attr_be32(NFTA_CMP_SREG, NFT_REG_1).attr_be32(NFTA_CMP_OP, NFT_CMP_EQ);
      const size_t data = m.begin(NFTA_CMP_DATA);
      m.attr(NFTA_DATA_VALUE, bridge.c_str(), bridge.size() + 1);  // with its NUL: "br0" is not "br01"
      m.end(data);
    });
  };
  const size_t list = m.begin(NFTA_RULE_EXPRESSIONS);
  if (a.in) iface(NFT_META_IIFNAME);
  if (a.out) iface(NFT_META_OIFNAME);
  if (a.ctstate) {
    xt_conntrack_mtinfo3 info{};
    info.match_flags = XT_CONNTRACK_STATE;
    info.state_mask = a.ctstate;
    std::string bytes(XT_ALIGN(sizeof info), '\0');
    std::memcpy(&bytes[0], &info, sizeof info);
    expr("match", [&] { m.attr_str(NFTA_MATCH_NAME, "conntrack").attr_be32(NFTA_MATCH_REV, 3).attr(NFTA_MATCH_INFO, bytes); });
  }
  expr("counter", [] {});
  expr("immediate", [&] {
    m.attr_be32(NFTA_IMMEDIATE_DREG, NFT_REG_VERDICT);
    const size_t data = m.begin(NFTA_IMMEDIATE_DATA);
    const size_t verdict = m.begin(NFTA_DATA_VERDICT);
    m.attr_be32(NFTA_VERDICT_CODE, NF_ACCEPT);
    m.end(verdict);
    m.end(data);
  });
  m.end(list);
}

// The families a network has: IPv4, and IPv6 when dual-stack.
std::vector<uint8_t> network_nfprotos(const NetworkRules& net) {
  if (!net.subnet6.present()) return {NFPROTO_IPV4};
  return {NFPROTO_IPV4, NFPROTO_IPV6};
}

}  // namespace

void add_foreign_accepts(NfNetlink& nl, const NetworkRules& net) {
  const std::string comment = network_comment(net.name);
  const std::string bridge = check_iface(net.bridge);
  for (uint8_t nfproto : network_nfprotos(net)) {
    if (!has_foreign_forward(nl, nfproto) || !foreign_rules_with_comment(nl, nfproto, comment).empty()) continue;
    // Each one inserted at the top (no position, no append): the last one sent comes first.
    const std::vector<ForwardAccept> accepts = forward_accepts(net.internal);
    std::vector<NlMessage> inserts;
    for (auto a = accepts.rbegin(); a != accepts.rend(); ++a) {
      NlMessage m((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK, nfproto);
      m.attr_str(NFTA_RULE_TABLE, kForeignTable).attr_str(NFTA_RULE_CHAIN, kForeignChain);
      add_accept_expressions(m, *a, bridge);
      std::string udata{static_cast<char>(kUdataRuleComment), static_cast<char>(comment.size() + 1)};
      udata += comment;
      udata += '\0';
      m.attr(NFTA_RULE_USERDATA, udata);
      inserts.push_back(std::move(m));
    }
    if (int err = nl.transaction(std::move(inserts)))
      fail_system("firewall: adding network " + net.name + "'s accepts to " + foreign_chain_name(nfproto), err);
  }
}

void remove_foreign_accepts(NfNetlink& nl, const std::string& network) {
  const std::string comment = network_comment(network);
  for (uint8_t nfproto : {uint8_t(NFPROTO_IPV4), uint8_t(NFPROTO_IPV6)}) {
    if (!has_foreign_forward(nl, nfproto)) continue;
    // A rule deleted by someone else between listing and deleting fails the batch: list again.
    for (int attempt = 0;; ++attempt) {
      std::vector<NlMessage> deletes;
      for (const std::string& handle : foreign_rules_with_comment(nl, nfproto, comment)) {
        NlMessage m((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_DELRULE, NLM_F_REQUEST | NLM_F_ACK, nfproto);
        m.attr_str(NFTA_RULE_TABLE, kForeignTable).attr_str(NFTA_RULE_CHAIN, kForeignChain).attr(NFTA_RULE_HANDLE, handle);
        deletes.push_back(std::move(m));
      }
      if (deletes.empty()) break;
      const int err = nl.transaction(std::move(deletes));
      if (err == 0) break;
      if (err != ENOENT || attempt == 2)
        fail_system("firewall: removing network " + network + "'s accepts from " + foreign_chain_name(nfproto), err);
    }
  }
}

}  // namespace ocinet::nft

namespace ocinet {

void add_nft_forward_accepts(const NetworkRules& net) {
  NfNetlink nl;
  nft::add_foreign_accepts(nl, net);
}

void remove_nft_forward_accepts(const std::string& network) {
  NfNetlink nl;
  nft::remove_foreign_accepts(nl, network);
}

}  // namespace ocinet
