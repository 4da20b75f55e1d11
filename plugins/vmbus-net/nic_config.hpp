// The `nics` option: which synthetic NICs a VM has and what backs each.
// NICs are separated by ';', each BACKEND[,key=value...]:
//   loopback                      frames the guest sends come back to it
//   tap,ifname=NAME               a TAP device (created when enlight may)
//   socket,path=LOCAL,peer=PEER   a Unix datagram socket pair between two
//                                 enlight VMs or a test, no privileges
// and for every backend mac=xx:xx:xx:xx:xx:xx (default 02:00:00:00:00:NN,
// NN = NIC number + 1). docs/vmbus-net.md says why these three.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace enlight::vmbus_net {

enum class BackendKind { Loopback, Tap, Socket };

using Mac = std::array<uint8_t, 6>;

struct NicConfig {
  BackendKind backend = BackendKind::Loopback;
  std::string ifname;     // tap
  std::string path, peer; // socket
  Mac mac{};
};

// At most this many NICs per VM (each is a VMBus channel and a thread).
inline constexpr size_t kMaxNics = 8;

// The NICs of `spec`, or an empty list and *error saying which NIC, which
// key and what would be right.
std::vector<NicConfig> parse_nics(std::string_view spec, std::string* error);

std::string format_mac(const Mac& mac);

}  // namespace enlight::vmbus_net
