// Taking a snapshot of a stopped VM, checking one against a new VM's
// configuration, and restoring it (docs/snapshots.md).
#include "snapshot/format.hpp"

#include <enlight/core/backend/backend.hpp>
#include <enlight/core/vm.hpp>

#include <boost/crc.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace enlight {

using namespace snapshot_format;

std::vector<SnapshotPlugin> snapshot_plugins(const Resolution& resolution) {
  std::vector<SnapshotPlugin> out;
  for (const ResolvedPlugin& rp : resolution.plugins) {
    SnapshotPlugin sp{rp.manifest->name, rp.manifest->version.str(), {}};
    for (const TypedOption& o : rp.options)
      sp.options.push_back(o.name + "=" + (o.type == ENLIGHT_OPT_STRING ? o.str : std::to_string(o.u64)));
    // Whose work it is: an offloaded plugin's state lives in the kernel.
    if (!rp.offload.empty()) sp.options.push_back("(offload)=" + rp.offload);
    out.push_back(std::move(sp));
  }
  return out;
}

namespace {
constexpr uint64_t kFnvBasis = 0xcbf29ce484222325ull;
uint64_t fnv1a(uint64_t h, const uint8_t* p, size_t n) noexcept {
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}
uint64_t fnv1a_part(uint64_t h, const uint8_t* p, size_t n) noexcept {
  uint8_t length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<uint8_t>(static_cast<uint64_t>(n) >> (8 * i));
  return fnv1a(fnv1a(h, length, 8), p, n);
}
}  // namespace

uint64_t guest_image_digest(const std::vector<uint8_t>& image) noexcept {
  return fnv1a(kFnvBasis, image.data(), image.size());
}

uint64_t kernel_boot_digest(const std::vector<uint8_t>& kernel, const std::vector<uint8_t>& initrd,
                            const std::string& cmdline) noexcept {
  uint64_t h = fnv1a_part(kFnvBasis, kernel.data(), kernel.size());
  h = fnv1a_part(h, initrd.data(), initrd.size());
  return fnv1a_part(h, reinterpret_cast<const uint8_t*>(cmdline.data()), cmdline.size());
}

namespace {

// Sections straight to the file: RAM is not copied into memory first.
class SectionWriter {
 public:
  SectionWriter(const std::string& path) : path_(path) {
    f_ = std::fopen(path.c_str(), "wb");
    if (f_ == nullptr) fail("cannot create it");
  }
  ~SectionWriter() {
    if (f_ != nullptr) std::fclose(f_);
  }
  void raw(const void* p, size_t n) {
    if (n != 0 && std::fwrite(p, 1, n, f_) != n) fail("cannot write it");
  }
  void section(uint32_t tag, const std::vector<uint8_t>& payload) {
    std::vector<uint8_t> out;
    append_section(out, tag, payload);
    raw(out.data(), out.size());
  }
  // A RAM run: the GPA, then the pages, under one CRC.
  void ram(uint64_t gpa, const uint8_t* pages, uint64_t bytes) {
    Encoder g;
    g.u64(gpa);
    boost::crc_32_type crc;
    crc.process_bytes(g.buffer().data(), 8);
    crc.process_bytes(pages, bytes);
    Encoder h;
    h.u32(kRam);
    h.u32(crc.checksum());
    h.u64(8 + bytes);
    raw(h.buffer().data(), h.buffer().size());
    raw(g.buffer().data(), 8);
    raw(pages, bytes);
  }
  void close() {
    const int rc = std::fflush(f_) | fsync_and_close();
    f_ = nullptr;
    if (rc != 0) fail("cannot write it");
  }

 private:
  int fsync_and_close() {
    const int rc = std::fclose(f_);
    return rc;
  }
  [[noreturn]] void fail(const char* what) {
    const std::string why = std::string(what) + ": " + std::strerror(errno);
    throw SnapshotError(path_, why, "check the path, the directory's permissions and the free space");
  }
  std::string path_;
  std::FILE* f_ = nullptr;
};

// The page compared with itself one byte on: no 4 KiB of zeros in the
// binary (the minimal build's budget, docs/size.md).
bool zero_page(const uint8_t* p) { return p[0] == 0 && std::memcmp(p, p + 1, kPageBytes - 1) == 0; }

}  // namespace

void write_snapshot(Backend& backend, const std::string& path, const std::string& guest_label, uint64_t guest_digest) {
  Vm& vm = backend.vm();
  SnapshotState s;
  s.backend = to_string(backend.kind());
  s.guest = guest_label;
  s.guest_digest = guest_digest;
  s.vcpus = vm.vcpu_count();
  s.memory_bytes = vm.memory().size();
  s.tsc_frequency_hz = vm.options().tsc_frequency_hz;
  s.enforce_cpuid = vm.resolution().enforce_cpuid;
  s.plugins = snapshot_plugins(vm.resolution());
  // The vCPUs first: this refuses a run that cannot be resumed before any
  // plugin is asked for its state.
  try {
    s.cpus = backend.save_vcpus();
  } catch (const std::runtime_error& e) {
    throw SnapshotError(path, e.what(), "snapshot a VM that is running normally (see docs/snapshots.md)");
  }
  try {
    s.devices = backend.save_devices();
  } catch (const std::runtime_error& e) {
    throw SnapshotError(path, e.what(), "snapshot a VM that is running normally (see docs/snapshots.md)");
  }
  s.reference_time = backend.stopped_reference_time();
  try {
    s.blobs = vm.save_plugin_state();
  } catch (const std::runtime_error& e) {
    throw SnapshotError(path, e.what(), "see docs/snapshots.md, \"Plugins\"");
  }

  const std::string tmp = path + ".tmp";
  {
    SectionWriter w(tmp);
    Encoder header;
    header.bytes(reinterpret_cast<const uint8_t*>(kMagic), sizeof kMagic);
    header.u32(kFormatVersion);
    header.u32(0);
    w.raw(header.buffer().data(), header.buffer().size());
    Encoder m;
    m.str(s.backend), m.str(s.guest), m.u64(s.guest_digest), m.u32(s.vcpus), m.u64(s.memory_bytes);
    m.u64(s.tsc_frequency_hz), m.u64(s.reference_time), m.u8(s.enforce_cpuid ? 1 : 0);
    w.section(kMachine, m.buffer());
    Encoder pl;
    pl.u32(static_cast<uint32_t>(s.plugins.size()));
    for (const SnapshotPlugin& p : s.plugins) {
      pl.str(p.name), pl.str(p.version), pl.u32(static_cast<uint32_t>(p.options.size()));
      for (const std::string& o : p.options) pl.str(o);
    }
    w.section(kPlugins, pl.buffer());
    for (const SnapshotBlob& b : s.blobs) {
      Encoder e;
      e.u16(b.plugin), e.u32(b.vcpu), e.u64(b.bytes.size()), e.bytes(b.bytes.data(), b.bytes.size());
      w.section(kBlob, e.buffer());
    }
    for (uint32_t i = 0; i < s.cpus.size(); ++i) {
      Encoder e;
      encode_vcpu(e, i, s.cpus[i]);
      w.section(kVcpu, e.buffer());
    }
    if (!s.devices.empty()) {
      Encoder e;
      e.u64(s.devices.size()), e.bytes(s.devices.data(), s.devices.size());
      w.section(kDevices, e.buffer());
    }
    // Runs of non-zero pages, each at most kMaxRamRunBytes.
    const uint8_t* ram = vm.memory().base();
    uint64_t run_start = 0, run_bytes = 0;
    for (uint64_t gpa = 0; gpa < s.memory_bytes; gpa += kPageBytes) {
      const bool keep = !zero_page(ram + gpa);
      if (keep && run_bytes == 0) run_start = gpa;
      if (keep) run_bytes += kPageBytes;
      if (run_bytes != 0 && (!keep || run_bytes == kMaxRamRunBytes)) {
        w.ram(run_start, ram + run_start, run_bytes);
        run_bytes = 0;
      }
    }
    if (run_bytes != 0) w.ram(run_start, ram + run_start, run_bytes);
    w.section(kEnd, {});
    w.close();
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::string("cannot rename ") + tmp + " to it: " + std::strerror(errno);
    std::remove(tmp.c_str());
    throw SnapshotError(path, why, "check the directory's permissions");
  }
}

void SnapshotFile::check_matches(const std::string& backend, const Resolution& resolution, uint64_t memory_bytes,
                                 uint64_t guest_digest) const {
  const SnapshotState& s = state_;
  const std::string same = "restore with the configuration the snapshot was taken with (the same profile or --cpu "
                           "flags, --vcpus, --guest, --backend)";
  if (s.backend != backend)
    throw SnapshotError(name_, "was taken on the " + s.backend + " backend; this run uses " + backend,
                        "restore it with --backend " + s.backend + " (a snapshot moves between hosts, not backends)");
  const std::vector<SnapshotPlugin> here = snapshot_plugins(resolution);
  for (const SnapshotPlugin& p : s.plugins) {
    auto it = std::find_if(here.begin(), here.end(), [&](const SnapshotPlugin& h) { return h.name == p.name; });
    if (it == here.end())
      throw SnapshotError(name_, "holds plugin '" + p.name + "' " + p.version + ", which this run does not enable", same);
    if (it->version != p.version)
      throw SnapshotError(name_, "holds plugin '" + p.name + "' " + p.version + "; this run loads version " + it->version,
                          "restore it with the plugin version that took it (saved state is read by the same version only)");
    if (it->options != p.options) {
      std::string diff;
      for (size_t i = 0; i < std::max(p.options.size(), it->options.size()); ++i) {
        const std::string a = i < p.options.size() ? p.options[i] : "(none)";
        const std::string b = i < it->options.size() ? it->options[i] : "(none)";
        if (a != b) {
          diff = a + " in the snapshot, " + b + " here";
          break;
        }
      }
      throw SnapshotError(name_, "plugin '" + p.name + "' has other options: " + diff, same);
    }
  }
  for (const SnapshotPlugin& h : here)
    if (std::none_of(s.plugins.begin(), s.plugins.end(), [&](const SnapshotPlugin& p) { return p.name == h.name; }))
      throw SnapshotError(name_, "was taken without plugin '" + h.name + "', which this run enables", same);
  if (here != s.plugins)
    throw SnapshotError(name_, "lists its plugins in another order than this run resolves them", same);
  if (s.enforce_cpuid != resolution.enforce_cpuid)
    throw SnapshotError(name_, std::string("was taken with hv-enforce-cpuid ") + (s.enforce_cpuid ? "on" : "off"), same);
  if (s.vcpus != resolution.vcpus)
    throw SnapshotError(name_, "has " + std::to_string(s.vcpus) + " vCPUs; this run has " + std::to_string(resolution.vcpus),
                        "restore it with --vcpus " + std::to_string(s.vcpus));
  if (s.memory_bytes != memory_bytes)
    throw SnapshotError(name_, "holds " + std::to_string(s.memory_bytes >> 20) + " MiB of guest RAM; this VM has " +
                                   std::to_string(memory_bytes >> 20) + " MiB",
                        same);
  if (s.guest_digest != guest_digest)
    throw SnapshotError(name_, "was taken of guest '" + s.guest + "', another image than this run's", same);
}

void SnapshotFile::restore(Backend& backend) const {
  Vm& vm = backend.vm();
  if (vm.memory().size() != state_.memory_bytes || vm.vcpu_count() != state_.vcpus)
    throw SnapshotError(name_, "does not fit this VM (RAM or vCPUs differ)", "call check_matches first");
  vm.clear_memory();
  for (const RamRun& r : ram_)
    if (!vm.memory().write(r.gpa, r.data, r.bytes))
      throw SnapshotError(name_, "a RAM run lies outside guest memory", "the file is damaged; take the snapshot again");
  // The devices first: the vCPUs' load restarts the guest's TSC, which
  // reference time must follow with nothing in between (just below).
  try {
    backend.load_devices(state_.devices);
  } catch (const std::runtime_error& e) {
    throw SnapshotError(name_, std::string("its machine devices' state was refused: ") + e.what(),
                        "the file is damaged, or was taken by another enlight; take the snapshot again");
  }
  try {
    backend.load_vcpus(state_.cpus);
  } catch (const std::runtime_error& e) {
    throw SnapshotError(name_, std::string("its vCPU state was refused: ") + e.what(),
                        "the file is damaged, or was taken by another enlight; take the snapshot again");
  }
  // Reference time continues from the stop, on this host's TSC (after the
  // vCPUs: a backend that can set the guest's TSC has just moved it);
  // plugins then publish it (the time plugin's TSC page) from their loads.
  vm.set_reference_time(state_.reference_time);
  try {
    vm.load_plugin_state(state_.blobs);
  } catch (const std::runtime_error& e) {
    throw SnapshotError(name_, e.what(), "the file is damaged, or was taken by another build of that plugin");
  }
}

}  // namespace enlight
