#include "config/bundle_rewrite.h"

#include "base/error.h"

namespace ocinet {

using nlohmann::json;

void rewrite_netns_for_mode(json& config, const std::string& mode, const std::string& joined_netns) {
  if (mode != "host" && mode != "container") return;
  if (!config.is_object() || !config.contains("linux") || !config["linux"].contains("namespaces") ||
      !config["linux"]["namespaces"].is_array())
    fail_invalid("config.json: no linux.namespaces to prepare for mode " + mode);
  json& spaces = config["linux"]["namespaces"];
  json kept = json::array();
  bool had_net = false;
  for (auto& ns : spaces) {
    if (!ns.is_object() || ns.value("type", "") != "network") {
      kept.push_back(ns);
      continue;
    }
    had_net = true;
    if (mode == "container") kept.push_back({{"type", "network"}, {"path", joined_netns}});
  }
  if (mode == "container" && !had_net) kept.push_back({{"type", "network"}, {"path", joined_netns}});
  spaces = kept;
}

void add_annotations(json& config, const std::map<std::string, std::string>& annotations) {
  if (!config.contains("annotations") || !config["annotations"].is_object()) config["annotations"] = json::object();
  for (const auto& [k, v] : annotations) config["annotations"][k] = v;
}

void add_hooks(json& config, const std::string& hook_path, const std::vector<std::string>& env) {
  if (!config.contains("hooks") || !config["hooks"].is_object()) config["hooks"] = json::object();
  for (const char* stage : {"prestart", "createRuntime", "poststop"}) {
    json& list = config["hooks"][stage];
    if (!list.is_array()) list = json::array();
    json kept = json::array();
    for (auto& h : list)
      if (!h.is_object() || h.value("path", "") != hook_path) kept.push_back(h);
    json entry{{"path", hook_path}, {"args", {"ocinet-hook", stage}}};
    if (!env.empty()) entry["env"] = env;
    kept.push_back(entry);
    list = kept;
  }
}

}  // namespace ocinet
