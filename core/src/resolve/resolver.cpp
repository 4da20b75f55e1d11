// Resolution: which plugins a VM gets, checked, in dependency order. The
// steps run in a fixed order so that one broken configuration always
// produces the same first error: selection (unknown names, ABI), closure
// over requires, versions, host features, conflicts, order (cycles), claim
// overlaps, options, then warnings.
#include <enlight/core/resolver.hpp>

#include "manifest/suggest.hpp"
#include "resolve/resolve_parts.hpp"

#include <enlight/abi.h>

#include <algorithm>

namespace enlight {
namespace {

using detail::EnabledSet;

std::string joined_search_path(const Catalog& catalog) {
  std::string path;
  for (const auto& d : catalog.search_path()) path += (path.empty() ? "" : ":") + d;
  return path.empty() ? "empty" : path;
}

[[noreturn]] void no_such_plugin(const std::string& name, const SourceLocation& where, const std::string& prefix,
                                 const Catalog& catalog) {
  const std::string near = catalog.closest(name);
  throw ConfigError(where,
                    prefix + "no plugin named '" + name + "' (search path: " + joined_search_path(catalog) + ")" +
                        (near.empty() ? "" : "; did you mean '" + near + "'?"),
                    "check the name, or put " + name + ".yaml and its library in a directory listed in ENLIGHT_PLUGIN_PATH");
}

// The manifest promises a binary built for one ABI; refusing here gives a
// clearer message than the loader's later check of the binary itself.
void check_abi(const Manifest& m) {
  if (m.abi == ENLIGHT_ABI_MAJOR) return;
  throw ConfigError(m.where_of("abi"),
                    "plugin '" + m.name + "' is built for plugin ABI " + std::to_string(m.abi) + ", but this enlight speaks ABI " +
                        std::to_string(ENLIGHT_ABI_MAJOR),
                    "rebuild the plugin against this SDK (enlight/abi.h, ENLIGHT_ABI_MAJOR " + std::to_string(ENLIGHT_ABI_MAJOR) +
                        ") and set 'abi: " + std::to_string(ENLIGHT_ABI_MAJOR) + "' in " + m.path);
}

bool backend_has(const BackendCaps& caps, const std::string& feature) {
  return std::find(caps.features.begin(), caps.features.end(), feature) != caps.features.end();
}

// Whether every CPUID bit the plugin claims is one the host reports.
bool host_reports_cpuid_of(const Manifest& m, const BackendCaps& caps) {
  for (const CpuidClaim& c : m.cpuid) {
    if (c.mask == 0 || c.kind != ENLIGHT_CPUID_BITS) continue;  // fields and defaults are enlight's own values
    auto it = std::find_if(caps.hv_supported.begin(), caps.hv_supported.end(),
                           [&](const HvCpuidLeaf& l) { return l.leaf == c.leaf; });
    if (it == caps.hv_supported.end() || c.reg > 3 || (it->regs[c.reg] & c.mask) != c.mask) return false;
  }
  return true;
}

// The working state: what is enabled, and why.
struct Selection {
  EnabledSet enabled;
  std::map<std::string, std::string> why;
  std::map<std::string, const PluginRequest*> requested;

  void add(const Manifest* m, std::string reason) {
    check_abi(*m);
    enabled[m->name] = m;
    why[m->name] = std::move(reason);
  }
};

void select_requested(const Profile& profile, const Catalog& catalog, const BackendCaps& caps, Selection& s) {
  for (const auto& req : profile.plugins) {
    const Manifest* m = catalog.find(req.name);
    if (!m) no_such_plugin(req.name, req.where, "", catalog);
    if (s.requested.count(req.name))
      throw ConfigError(req.where, "'" + req.name + "' is requested twice (also at " + s.requested[req.name]->where.str() + ")",
                        "keep one entry");
    s.requested[req.name] = &req;
    s.add(m, "profile");
  }
  if (!profile.passthrough) return;
  if (caps.narrows_passthrough && !caps.hv_supported_missing.empty())
    throw ConfigError(profile.passthrough_where,
                      "hv-passthrough on the " + caps.name + " backend takes the host's Hyper-V set from KVM, but " +
                          caps.hv_supported_missing,
                      "list the enlightenments you want instead of hv-passthrough");
  // hv-passthrough means "everything this host can do": a plugin whose host
  // features are missing, or (kvm) whose CPUID bits the host does not
  // report, is left out rather than refused. BackendCaps::supports_all is
  // not consulted yet: every backend so far runs every plugin.
  for (const auto& [name, m] : catalog.all()) {
    if (!m.passthrough || s.enabled.count(name)) continue;
    if (!std::all_of(m.host_features.begin(), m.host_features.end(), [&](const auto& f) { return backend_has(caps, f); }))
      continue;
    if (caps.narrows_passthrough && !host_reports_cpuid_of(m, caps)) continue;
    s.add(&m, "hv-passthrough");
  }
}

std::string enable_hint(const Manifest& m) {
  return "add '" + m.name + "' to enlightenments" + (m.flag.empty() ? "" : " (or " + m.flag + " to the flags)");
}

// Implicit plugins (identity) follow from what needs them; anything else
// the user must ask for, because silently turning on an enlightenment
// changes what the guest sees.
void close_over_requires(const Catalog& catalog, Selection& s) {
  std::vector<std::string> work, added;
  for (const auto& [name, m] : s.enabled) work.push_back(name);
  while (!work.empty()) {
    const Manifest* m = s.enabled.at(work.back());
    work.pop_back();
    for (const auto& d : m->requires_) {
      if (s.enabled.count(d.name)) continue;
      const Manifest* provider = catalog.find(d.name);
      if (!provider) no_such_plugin(d.name, d.where, m->name + " requires '" + d.name + "', but there is ", catalog);
      if (!provider->implicit)
        throw ConfigError(d.where, m->name + " requires " + d.name + ", which is not enabled: " + enable_hint(*provider),
                          "enable " + d.name + ", or remove " + m->name + " (in the set because: " + s.why[m->name] + ")");
      s.add(provider, "required by " + m->name);
      work.push_back(d.name);
      added.push_back(d.name);
    }
  }
  // An implicit plugin names every plugin that needs it, not just the
  // first one the walk happened to meet.
  for (const auto& name : added) {
    std::string by;
    for (const auto& [other, m] : s.enabled)
      if (std::any_of(m->requires_.begin(), m->requires_.end(), [&](const Dependency& d) { return d.name == name; }))
        by += (by.empty() ? "" : ", ") + other;
    s.why[name] = "required by " + by;
  }
}

void check_versions(const Selection& s) {
  for (const auto& [name, m] : s.enabled) {
    for (const auto& d : m->requires_) {
      const Manifest* p = s.enabled.at(d.name);
      if (d.range.contains(p->version)) continue;
      throw ConfigError(d.where,
                        name + " requires '" + d.name + " " + d.range.text + "' but " + d.name + " is " + p->version.str() +
                            " (" + p->path + ")",
                        "install a " + d.name + " matching '" + d.range.text + "', or a " + name + " built for " + d.name +
                            " " + p->version.str());
    }
  }
}

void check_host_features(const Selection& s, const BackendCaps& caps) {
  for (const auto& [name, m] : s.enabled)
    for (const auto& f : m->host_features)
      if (!backend_has(caps, f))
        throw ConfigError(m->where_of("host-features"),
                          "plugin '" + name + "' needs host feature '" + f + "', which the " + caps.name + " backend does not have",
                          "run on a backend or host with '" + f + "', or disable " + name);
}

void check_conflicts(const Selection& s) {
  for (const auto& [name, m] : s.enabled) {
    for (const auto& c : m->conflicts) {
      auto other = s.enabled.find(c.name);
      if (other == s.enabled.end() || !c.range.contains(other->second->version)) continue;
      throw ConfigError(c.where,
                        "'" + name + "' conflicts with '" + c.name + (c.range.text.empty() ? "" : " " + c.range.text) +
                            "' (" + other->second->path + "), and both are enabled (" + name + ": " + s.why.at(name) +
                            "; " + c.name + ": " + s.why.at(c.name) + ")",
                        "disable one of them");
    }
  }
}

// `offload: B` asks backend B to do the plugin's work itself: the plugin
// must offer it and B must be the backend this run uses.
void check_offload(const Manifest& m, const PluginRequest& req, const BackendCaps& caps) {
  if (req.offload.empty()) return;
  if (std::find(m.offload.begin(), m.offload.end(), req.offload) == m.offload.end())
    throw ConfigError(req.offload_where,
                      "'" + m.name + "' cannot be offloaded to '" + req.offload + "' (" + m.path +
                          (m.offload.empty() ? " offers no offload)" : " offers: " + m.offload.front() + ")"),
                      "remove 'offload' from '" + m.name + "'");
  if (caps.name != req.offload)
    throw ConfigError(req.offload_where,
                      "'" + m.name + "' is offloaded to " + req.offload + ", but this run uses the " + caps.name + " backend",
                      "run with --backend " + req.offload + ", or remove 'offload'");
}

std::vector<std::string> recommend_warnings(const Selection& s) {
  std::vector<std::string> out;
  for (const auto& [name, m] : s.enabled) {
    for (const auto& r : m->recommends) {
      auto other = s.enabled.find(r.name);
      if (other == s.enabled.end())
        out.push_back(r.where.str() + ": " + name + " recommends " + r.name + ", which is not enabled");
      else if (!r.range.contains(other->second->version))
        out.push_back(r.where.str() + ": " + name + " recommends '" + r.name + " " + r.range.text + "' but " + r.name +
                      " is " + other->second->version.str());
    }
  }
  return out;
}

}  // namespace

Resolution resolve(const Profile& profile, const Catalog& catalog, const BackendCaps& caps) {
  Resolution res;
  res.enforce_cpuid = profile.enforce_cpuid;
  res.passthrough = profile.passthrough;
  res.vcpus = profile.vcpus;

  Selection s;
  select_requested(profile, catalog, caps, s);
  close_over_requires(catalog, s);
  check_versions(s);
  check_host_features(s, caps);
  check_conflicts(s);
  const std::vector<const Manifest*> order = detail::dependency_order(s.enabled);
  detail::check_claim_overlaps(s.enabled);

  // Options set without enabling the plugin (hv-vendor-id alone) are checked
  // even when unused, so a typo never hides; they apply only if it is on.
  std::map<std::string, const PluginRequest*> option_only;
  for (const auto& req : profile.option_only) {
    const Manifest* m = catalog.find(req.name);
    if (!m) no_such_plugin(req.name, req.where, "options given for ", catalog);
    detail::check_request_options(*m, req);
    option_only[req.name] = &req;
    if (!s.enabled.count(req.name))
      res.warnings.push_back(req.where.str() + ": options for '" + req.name + "' are ignored: " + req.name + " is not enabled");
  }
  for (const auto& [name, req] : s.requested) {
    detail::check_request_options(*s.enabled.at(name), *req);
    check_offload(*s.enabled.at(name), *req, caps);
  }

  for (const Manifest* m : order) {
    auto oo = option_only.find(m->name);
    auto rq = s.requested.find(m->name);
    // The plugin's own request is more specific than a loose flag: it wins.
    res.plugins.push_back({m,
                           detail::typed_options(*m, {oo == option_only.end() ? nullptr : oo->second,
                                                      rq == s.requested.end() ? nullptr : rq->second}),
                           s.why.at(m->name), rq == s.requested.end() ? std::string() : rq->second->offload});
  }

  for (auto& w : recommend_warnings(s)) res.warnings.push_back(std::move(w));
  for (const auto& sh : catalog.shadowed())
    if (s.enabled.count(sh.name))
      res.warnings.push_back("'" + sh.name + "' comes from " + sh.used + "; " + sh.hidden + ", later on the search path, is ignored");
  return res;
}

}  // namespace enlight
