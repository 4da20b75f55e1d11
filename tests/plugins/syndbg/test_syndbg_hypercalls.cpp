// syndbg: HvCallPostDebugData, HvCallRetrieveDebugData and
// HvCallResetDebugSession, as KVM's kvm_hv_hypercall gates them and
// QEMU's hw/hyperv/hyperv.c and syndbg.c answer them. Frames are built and
// checked here byte by byte, independently of the plugin's frame code.
#include "syndbg_test.hpp"

#include <algorithm>
#include <array>

namespace enlight::test::syndbg {
namespace {

using direct::control;

constexpr uint64_t kHypercallPage = 0x1000;
constexpr uint64_t kIn = 0x100000;   // input page
constexpr uint64_t kOut = 0x101000;  // output page
constexpr uint64_t kPendingPage = 0x30000;
constexpr uint64_t kRam = 64ull << 20;
constexpr size_t kHeaders = 14 + 20 + 8;  // Ethernet, IPv4, UDP

uint16_t be16(const Bytes& b, size_t at) { return static_cast<uint16_t>(b[at] << 8 | b[at + 1]); }
void put_be16(Bytes& b, size_t at, uint16_t v) {
  b[at] = static_cast<uint8_t>(v >> 8);
  b[at + 1] = static_cast<uint8_t>(v);
}
uint32_t le32(const Bytes& b, size_t at) {
  uint32_t v;
  std::memcpy(&v, b.data() + at, 4);
  return v;
}
uint16_t le16(const Bytes& b, size_t at) {
  uint16_t v;
  std::memcpy(&v, b.data() + at, 2);
  return v;
}
// One's-complement sum (RFC 1071), folded, not inverted.
uint16_t ones_sum(const uint8_t* p, size_t n, uint32_t sum = 0) {
  for (; n > 1; p += 2, n -= 2) sum += static_cast<uint32_t>(p[0] << 8 | p[1]);
  if (n) sum += static_cast<uint32_t>(p[0]) << 8;
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

// The frame KDNET's stack would post: Ethernet II, IPv4 (no options unless
// ihl_words > 5), UDP, payload, then `padding` zero bytes.
Bytes frame(const Bytes& payload, std::array<uint8_t, 4> src = {10, 0, 0, 2}, size_t padding = 0,
            uint16_t ether_type = 0x0800, uint8_t ihl_words = 5) {
  const size_t ip_len = size_t{ihl_words} * 4;
  Bytes f(14 + ip_len + 8 + payload.size() + padding, 0);
  for (int i = 0; i < 6; ++i) f[i] = 0x02, f[6 + i] = 0x04;
  put_be16(f, 12, ether_type);
  f[14] = static_cast<uint8_t>(0x40 | ihl_words);
  put_be16(f, 16, static_cast<uint16_t>(ip_len + 8 + payload.size()));
  f[22] = 128;
  f[23] = 17;
  std::copy(src.begin(), src.end(), f.begin() + 26);
  f[30] = 10, f[31] = 0, f[32] = 0, f[33] = 1;
  const size_t udp = 14 + ip_len;
  put_be16(f, udp, 50005);
  put_be16(f, udp + 2, 50000);
  put_be16(f, udp + 4, static_cast<uint16_t>(8 + payload.size()));
  std::copy(payload.begin(), payload.end(), f.begin() + static_cast<long>(udp + 8));
  return f;
}

struct HcVm : SyndbgVm {
  explicit HcVm(const std::string& options = ", use-hcalls: true", bool enforce = false) : SyndbgVm(options, enforce) {
    EXPECT_EQ(enable_hypercalls(*d, kHypercallPage), Access::Ok);
  }
  uint16_t post(const Bytes& data, uint32_t count_field, uint64_t in = kIn, uint64_t out = kOut) {
    Bytes header(8, 0);
    std::memcpy(header.data(), &count_field, 4);
    put(in, header);
    if (!data.empty()) put(in + 8, data);
    return d->hypercall(0, control(HvCallPostDebugData), in, out).status();
  }
  uint16_t post(const Bytes& data) { return post(data, static_cast<uint32_t>(data.size())); }
  uint16_t retrieve(uint32_t count = HV_DEBUG_RETRIEVE_MAX_DATA, uint64_t out = kOut) {
    Bytes in(16, 0);
    std::memcpy(in.data(), &count, 4);
    const uint64_t timeout = 10'000'000;  // 1 s in 100 ns units; not honoured (as QEMU)
    std::memcpy(in.data() + 8, &timeout, 8);
    put(kIn, in);
    return d->hypercall(0, control(HvCallRetrieveDebugData), kIn, out).status();
  }
  uint16_t reset(uint32_t options = 0) {
    Bytes in(8, 0);
    std::memcpy(in.data(), &options, 4);
    put(kIn, in);
    return d->hypercall(0, control(HvCallResetDebugSession), kIn, kOut).status();
  }
  void arrive(const Bytes& data, int64_t total) {
    ASSERT_TRUE(host.send_to(vm_port(), data));
    ASSERT_TRUE(eventually([&] { return count("received_datagrams") == total; }));
  }
};

TEST(SyndbgHypercall, EveryCallIsOperationDeniedWithoutUseHcalls) {
  HcVm s("");
  s.put(kOut, Bytes(HV_PAGE_SIZE, 0xEE));
  EXPECT_EQ(s.post(frame(bytes("hi"))), HV_STATUS_OPERATION_DENIED);
  EXPECT_EQ(s.retrieve(), HV_STATUS_OPERATION_DENIED);
  EXPECT_EQ(s.reset(), HV_STATUS_OPERATION_DENIED);
  EXPECT_EQ(s.guest(kOut, HV_PAGE_SIZE), Bytes(HV_PAGE_SIZE, 0xEE));  // no output on failure
  EXPECT_EQ(s.count("sent_datagrams"), 0);
  EXPECT_FALSE(s.host.receive(std::chrono::milliseconds(100)).has_value());
  // KVM reads the guest's own OPTIONS: setting USE_HCALLS opens them.
  ASSERT_EQ(s.d->wrmsr(0, HV_X64_MSR_SYNDBG_OPTIONS, HV_X64_SYNDBG_OPTION_USE_HCALLS), Access::Ok);
  EXPECT_EQ(s.reset(), HV_STATUS_SUCCESS);
  // And clearing it closes them again, whatever the option said.
  ASSERT_EQ(s.d->wrmsr(0, HV_X64_MSR_SYNDBG_OPTIONS, ~HV_X64_SYNDBG_OPTION_USE_HCALLS), Access::Ok);
  EXPECT_EQ(s.reset(), HV_STATUS_OPERATION_DENIED);
}

TEST(SyndbgHypercall, FastFormsAreRefusedByTheDecoder) {
  // KVM answers HV_STATUS_INVALID_PARAMETER for a fast Post/Retrieve; the
  // core decoder refuses a fast call to a memory-only claim with
  // INVALID_HYPERCALL_INPUT before the plugin runs (README, "Differences").
  HcVm s;
  for (uint16_t code : {HvCallPostDebugData, HvCallRetrieveDebugData, HvCallResetDebugSession})
    EXPECT_EQ(s.d->fast_hypercall(0, control(code, true), 0, 0).status(), HV_STATUS_INVALID_HYPERCALL_INPUT) << code;
}

TEST(SyndbgHypercall, UnclaimedWithoutThePlugin) {
  auto d = make_vm("hv-relaxed,hv-vpindex,hv-synic");
  ASSERT_EQ(enable_hypercalls(*d, kHypercallPage), Access::Ok);
  for (uint16_t code : {HvCallPostDebugData, HvCallRetrieveDebugData, HvCallResetDebugSession})
    EXPECT_EQ(d->hypercall(0, control(code), kIn, kOut).status(), HV_STATUS_INVALID_HYPERCALL_CODE) << code;
}

TEST(SyndbgHypercall, ResetDebugSessionNamesTheEndpointsAsQemu) {
  HcVm s;
  s.put(kOut, Bytes(64, 0xEE));
  ASSERT_EQ(s.reset(), HV_STATUS_SUCCESS);
  const Bytes out = s.guest(kOut, 64);
  EXPECT_EQ(le32(out, HV_DEBUG_RESET_OUTPUT_HOST_IP_OFFSET), 0x7F000001u);  // host order, as QEMU
  EXPECT_EQ(le32(out, HV_DEBUG_RESET_OUTPUT_TARGET_IP_OFFSET), 0x7F000001u);
  EXPECT_EQ(le16(out, HV_DEBUG_RESET_OUTPUT_HOST_PORT_OFFSET), s.host.port());
  EXPECT_EQ(le16(out, HV_DEBUG_RESET_OUTPUT_TARGET_PORT_OFFSET), s.host.port());
  EXPECT_EQ(Bytes(out.begin() + 12, out.begin() + 24), Bytes(12, 0));  // both MACs
  EXPECT_EQ(Bytes(out.begin() + 24, out.end()), Bytes(40, 0xEE));     // nothing past the output
}

TEST(SyndbgHypercall, ResetPurgesIncomingDataOnlyWhenAsked) {
  HcVm s;
  ASSERT_EQ(s.d->wrmsr(0, HV_X64_MSR_SYNDBG_PENDING_BUFFER, kPendingPage), Access::Ok);
  s.arrive(bytes("one"), 1);
  s.arrive(bytes("two"), 2);
  EXPECT_EQ(s.byte_at(kPendingPage), 1);
  EXPECT_EQ(s.reset(HV_DEBUG_PURGE_OUTGOING_DATA), HV_STATUS_SUCCESS);
  EXPECT_EQ(s.byte_at(kPendingPage), 1);
  EXPECT_EQ(s.reset(HV_DEBUG_PURGE_INCOMING_DATA), HV_STATUS_SUCCESS);
  EXPECT_EQ(s.byte_at(kPendingPage), 0);
  EXPECT_EQ(s.retrieve(), HV_STATUS_NO_DATA);
  EXPECT_EQ(s.count("dropped_datagrams"), 0);  // a purge is asked for, not a drop
}

TEST(SyndbgHypercall, PostDebugDataSendsTheUdpPayload) {
  HcVm s;
  s.put(kOut, Bytes(8, 0xEE));
  const Bytes payload = bytes("KDNET packet body");
  EXPECT_EQ(s.post(frame(payload)), HV_STATUS_SUCCESS);
  EXPECT_EQ(le32(s.guest(kOut, 8), 0), 0u);  // pending_count
  EXPECT_EQ(s.guest(kOut + 4, 4), Bytes(4, 0xEE));
  sockaddr_in from{};
  EXPECT_EQ(s.host.receive(std::chrono::milliseconds(5000), &from), std::optional<Bytes>(payload));
  EXPECT_EQ(ntohs(from.sin_port), s.vm_port());
  EXPECT_EQ(s.count("sent_datagrams"), 1);
}

TEST(SyndbgHypercall, PostDebugDataSendsNoEthernetPaddingAndHonoursIpOptions) {
  HcVm s;
  EXPECT_EQ(s.post(frame(bytes("ab"), {10, 0, 0, 2}, 16)), HV_STATUS_SUCCESS);
  EXPECT_EQ(s.host.receive(), std::optional<Bytes>(bytes("ab")));
  EXPECT_EQ(s.post(frame(bytes("with options"), {10, 0, 0, 2}, 0, 0x0800, 7)), HV_STATUS_SUCCESS);
  EXPECT_EQ(s.host.receive(), std::optional<Bytes>(bytes("with options")));
}

TEST(SyndbgHypercall, PostDebugDataOfALargestFrame) {
  HcVm s;
  const Bytes payload(HV_DEBUG_POST_MAX_DATA - kHeaders, 0x5A);
  const Bytes f = frame(payload);
  ASSERT_EQ(f.size(), HV_DEBUG_POST_MAX_DATA);
  EXPECT_EQ(s.post(f), HV_STATUS_SUCCESS);
  EXPECT_EQ(s.host.receive(), std::optional<Bytes>(payload));
}

TEST(SyndbgHypercall, PostDebugDataIgnoresWhatIsNotIpv4Udp) {
  HcVm s;
  Bytes not_udp = frame(bytes("tcp?"));
  not_udp[23] = 6;
  Bytes ipv6_version = frame(bytes("v6"));
  ipv6_version[14] = 0x65;
  Bytes long_udp_length = frame(bytes("short"));
  put_be16(long_udp_length, 14 + 20 + 4, 8 + 6);
  Bytes tiny_udp_length = frame(bytes("tiny"));
  put_be16(tiny_udp_length, 14 + 20 + 4, 7);
  Bytes ihl_too_small = frame(bytes("ihl"));
  ihl_too_small[14] = 0x44;
  Bytes ihl_past_the_end = frame(Bytes{}, {10, 0, 0, 2}, 0, 0x0800, 5);
  ihl_past_the_end[14] = 0x4F;  // 60-byte IP header in a 42-byte frame
  const Bytes cases[] = {
      frame(bytes("arp"), {10, 0, 0, 2}, 0, 0x0806),
      not_udp,
      ipv6_version,
      long_udp_length,
      tiny_udp_length,
      ihl_too_small,
      ihl_past_the_end,
      Bytes(33, 0),  // shorter than Ethernet + IPv4
      Bytes{},       // count 0
  };
  int64_t ignored = 0;
  for (const Bytes& c : cases) {
    EXPECT_EQ(s.post(c), HV_STATUS_SUCCESS) << ignored;
    EXPECT_EQ(s.count("ignored_frames"), ++ignored);
  }
  EXPECT_EQ(s.count("sent_datagrams"), 0);
  EXPECT_FALSE(s.host.receive(std::chrono::milliseconds(100)).has_value());
}

TEST(SyndbgHypercall, PostDebugDataWithHostileCounts) {
  HcVm s;
  const Bytes f = frame(bytes("x"));
  for (uint32_t count : {HV_DEBUG_POST_MAX_DATA + 1, uint32_t{0x10000}, uint32_t{0x80000000}, ~uint32_t{0}})
    EXPECT_EQ(s.post(f, count), HV_STATUS_INVALID_PARAMETER) << count;  // QEMU's answer
  EXPECT_EQ(s.count("rejected_requests"), 4);
  // A count shorter than the frame cuts its UDP datagram: not sent.
  EXPECT_EQ(s.post(f, static_cast<uint32_t>(f.size() - 1)), HV_STATUS_SUCCESS);
  EXPECT_EQ(s.count("ignored_frames"), 1);
  EXPECT_EQ(s.count("sent_datagrams"), 0);
}

TEST(SyndbgHypercall, BadParameterBlocksAreTheDecodersErrors) {
  HcVm s;
  const Bytes f = frame(bytes("x"));
  // PostDebugData's input is a whole page, so it must start one.
  EXPECT_EQ(s.post(f, static_cast<uint32_t>(f.size()), kIn + 8, kOut), HV_STATUS_INVALID_ALIGNMENT);
  EXPECT_EQ(s.post(f, static_cast<uint32_t>(f.size()), kIn, kOut + 3), HV_STATUS_INVALID_ALIGNMENT);
  EXPECT_EQ(s.d->hypercall(0, control(HvCallPostDebugData), kRam, kOut).status(), HV_STATUS_INVALID_HYPERCALL_INPUT);
  EXPECT_EQ(s.d->hypercall(0, control(HvCallPostDebugData), ~uint64_t{0xFFF}, kOut).status(),
            HV_STATUS_INVALID_HYPERCALL_INPUT);
  EXPECT_EQ(s.d->hypercall(0, control(HvCallResetDebugSession), kIn, kRam).status(),
            HV_STATUS_INVALID_HYPERCALL_INPUT);
  // So is RetrieveDebugData's output.
  EXPECT_EQ(s.retrieve(HV_DEBUG_RETRIEVE_MAX_DATA, kOut + 8), HV_STATUS_INVALID_ALIGNMENT);
  // Simple calls: a rep count is malformed.
  EXPECT_EQ(s.d->hypercall(0, control(HvCallResetDebugSession, false, 1), kIn, kOut).status(),
            HV_STATUS_INVALID_HYPERCALL_INPUT);
  EXPECT_EQ(s.count("sent_datagrams"), 0);
  EXPECT_EQ(s.d->vm().stop_reason(), StopReason::None);
}

TEST(SyndbgHypercall, RetrieveDebugDataWithNothingWaitingIsNoDataAtOnce) {
  HcVm s;
  s.put(kOut, Bytes(16, 0xEE));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(s.retrieve(), HV_STATUS_NO_DATA);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));  // the timeout is not waited
  EXPECT_EQ(s.guest(kOut, 16), Bytes(16, 0xEE));
}

TEST(SyndbgHypercall, RetrieveDebugDataWrapsTheDatagramInAFrame) {
  HcVm s;
  ASSERT_EQ(s.d->wrmsr(0, HV_X64_MSR_SYNDBG_PENDING_BUFFER, kPendingPage), Access::Ok);
  // The guest's posted frame names its address (10.0.0.2): replies go there.
  ASSERT_EQ(s.post(frame(bytes("hello"), {10, 0, 0, 2})), HV_STATUS_SUCCESS);
  ASSERT_EQ(s.host.receive(), std::optional<Bytes>(bytes("hello")));
  const Bytes payload = bytes("reply from the debugger");
  s.arrive(payload, 1);
  ASSERT_TRUE(eventually([&] { return s.byte_at(kPendingPage) == 1; }));

  ASSERT_EQ(s.retrieve(1000), HV_STATUS_SUCCESS);
  const size_t n = kHeaders + payload.size();
  const Bytes out = s.guest(kOut, 8 + n);
  EXPECT_EQ(le32(out, 0), n);           // retrieved_count
  EXPECT_EQ(le32(out, 4), 1000u - n);   // remaining_count
  const Bytes f(out.begin() + 8, out.end());
  EXPECT_EQ(Bytes(f.begin(), f.begin() + 12), Bytes(12, 0));  // MACs zero, as QEMU
  EXPECT_EQ(be16(f, 12), 0x0800);
  EXPECT_EQ(f[14], 0x45);
  EXPECT_EQ(be16(f, 16), 20 + 8 + payload.size());
  EXPECT_EQ(f[22], 64);  // TTL
  EXPECT_EQ(f[23], 17);  // UDP
  EXPECT_EQ(ones_sum(f.data() + 14, 20), 0xFFFF) << "IPv4 header checksum";
  EXPECT_EQ(Bytes(f.begin() + 26, f.begin() + 30), (Bytes{127, 0, 0, 1}));  // from the debugger host
  EXPECT_EQ(Bytes(f.begin() + 30, f.begin() + 34), (Bytes{10, 0, 0, 2}));   // to the guest's address
  EXPECT_EQ(be16(f, 34), s.host.port());  // both ports the host's (QEMU)
  EXPECT_EQ(be16(f, 36), s.host.port());
  EXPECT_EQ(be16(f, 38), 8 + payload.size());
  // UDP checksum over the pseudo-header and the datagram sums to all ones.
  const uint32_t pseudo = ones_sum(f.data() + 26, 8) + 17u + be16(f, 38);
  EXPECT_EQ(ones_sum(f.data() + 34, 8 + payload.size(), pseudo), 0xFFFF) << "UDP checksum";
  EXPECT_EQ(Bytes(f.begin() + 42, f.end()), payload);
  EXPECT_EQ(s.byte_at(kPendingPage), 0);
  EXPECT_EQ(s.retrieve(), HV_STATUS_NO_DATA);
}

TEST(SyndbgHypercall, RetrieveDebugDataOfTheLargestDatagramFillsThePage) {
  HcVm s;
  const Bytes payload(HV_DEBUG_RETRIEVE_MAX_DATA - kHeaders, 0x77);
  s.put(kOut + HV_PAGE_SIZE, Bytes(8, 0xEE));
  s.arrive(payload, 1);
  ASSERT_EQ(s.retrieve(), HV_STATUS_SUCCESS);
  const Bytes out = s.guest(kOut, HV_PAGE_SIZE);
  EXPECT_EQ(le32(out, 0), HV_DEBUG_RETRIEVE_MAX_DATA);
  EXPECT_EQ(le32(out, 4), 0u);
  EXPECT_EQ(Bytes(out.begin() + 8 + kHeaders, out.end()), payload);
  EXPECT_EQ(s.guest(kOut + HV_PAGE_SIZE, 8), Bytes(8, 0xEE));  // not a byte past the page
}

TEST(SyndbgHypercall, RetrieveCountSmallerThanTheFrameNeverWraps) {
  HcVm s;
  s.arrive(bytes("0123456789"), 1);
  ASSERT_EQ(s.retrieve(4), HV_STATUS_SUCCESS);  // QEMU copies regardless of count
  const Bytes out = s.guest(kOut, 8);
  EXPECT_EQ(le32(out, 0), kHeaders + 10);
  EXPECT_EQ(le32(out, 4), 0u);  // QEMU: 4 - 52 wraps to 0xFFFFFFD0
}

TEST(SyndbgHypercall, MsrAndHypercallProtocolsShareOneQueue) {
  HcVm s;
  s.arrive(bytes("first"), 1);
  s.arrive(bytes("second"), 2);
  ASSERT_EQ(s.d->wrmsr(0, HV_X64_MSR_SYNDBG_RECV_BUFFER, 0x50000), Access::Ok);
  ASSERT_EQ(s.d->wrmsr(0, HV_X64_MSR_SYNDBG_CONTROL, HV_SYNDBG_CONTROL_RECV), Access::Ok);
  EXPECT_EQ(s.guest(0x50000, 5), bytes("first"));
  ASSERT_EQ(s.retrieve(), HV_STATUS_SUCCESS);
  EXPECT_EQ(s.guest(kOut + 8 + kHeaders, 6), bytes("second"));
}

TEST(SyndbgHypercall, UnderEnforceCpuidTheyAreAccessDeniedAsOnKvm) {
  // KVM's hv_check_hypercall_access wants 0x40000003.EBX[11] (HV_DEBUGGING)
  // for the debug calls under enforce-cpuid; QEMU's hv-syndbg never sets
  // it, so QEMU+KVM with hv-enforce-cpuid answers ACCESS_DENIED.
  HcVm s(", use-hcalls: true", true);
  ASSERT_TRUE(s.d->vm().resolution().enforce_cpuid);
  EXPECT_EQ(s.d->cpuid(0, HV_CPUID_FEATURES).ebx & HV_DEBUGGING, 0u);
  EXPECT_EQ(s.post(frame(bytes("x"))), HV_STATUS_ACCESS_DENIED);
  EXPECT_EQ(s.retrieve(), HV_STATUS_ACCESS_DENIED);
  EXPECT_EQ(s.reset(), HV_STATUS_ACCESS_DENIED);
  // Before anything else, fast or not (KVM checks access first).
  EXPECT_EQ(s.d->fast_hypercall(0, control(HvCallPostDebugData, true), 0, 0).status(), HV_STATUS_ACCESS_DENIED);
  EXPECT_EQ(s.count("sent_datagrams"), 0);
}

}  // namespace
}  // namespace enlight::test::syndbg
