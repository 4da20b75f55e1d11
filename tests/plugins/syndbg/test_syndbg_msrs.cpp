// syndbg: CPUID, resolution, and the MSR protocol end to end: a payload the
// guest sends through SYNDBG_CONTROL arrives at a real UDP socket, and a
// datagram from that socket is flagged in the pending page and copied to
// the receive page. Expected values are KVM's syndbg_set_msr/get_msr and
// QEMU's KVM_EXIT_HYPERV_SYNDBG handling (plugins/syndbg/README.md).
#include "syndbg_test.hpp"

#include <algorithm>

namespace enlight::test::syndbg {
namespace {

constexpr uint64_t kSendPage = 0x10000;
constexpr uint64_t kRecvPage = 0x20000;
constexpr uint64_t kPendingPage = 0x30000;
constexpr uint64_t kRam = 64ull << 20;  // VmOptions' default

constexpr uint32_t kMsrs[] = {HV_X64_MSR_SYNDBG_CONTROL,     HV_X64_MSR_SYNDBG_STATUS,
                              HV_X64_MSR_SYNDBG_SEND_BUFFER, HV_X64_MSR_SYNDBG_RECV_BUFFER,
                              HV_X64_MSR_SYNDBG_PENDING_BUFFER, HV_X64_MSR_SYNDBG_OPTIONS};

uint64_t send_control(uint64_t size) { return HV_SYNDBG_CONTROL_SEND | (size << HV_SYNDBG_CONTROL_SEND_SIZE_SHIFT); }
uint64_t recv_status(uint64_t size) {
  return HV_SYNDBG_STATUS_RECV_SUCCESS | (size << HV_SYNDBG_STATUS_RECV_SIZE_SHIFT);
}

Bytes pattern(size_t n, uint8_t seed) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(seed + i * 7);
  return b;
}

// The guest's side of one MSR send.
uint64_t msr_send(SyndbgVm& s, const Bytes& data, uint32_t vcpu = 0) {
  s.put(kSendPage, data);
  EXPECT_EQ(s.d->wrmsr(vcpu, HV_X64_MSR_SYNDBG_SEND_BUFFER, kSendPage), Access::Ok);
  EXPECT_EQ(s.d->wrmsr(vcpu, HV_X64_MSR_SYNDBG_CONTROL, send_control(data.size())), Access::Ok);
  return s.d->rdmsr(vcpu, HV_X64_MSR_SYNDBG_STATUS).value;
}

uint64_t msr_receive(SyndbgVm& s, uint64_t page = kRecvPage) {
  EXPECT_EQ(s.d->wrmsr(0, HV_X64_MSR_SYNDBG_RECV_BUFFER, page), Access::Ok);
  EXPECT_EQ(s.d->wrmsr(0, HV_X64_MSR_SYNDBG_CONTROL, HV_SYNDBG_CONTROL_RECV), Access::Ok);
  return s.d->rdmsr(0, HV_X64_MSR_SYNDBG_STATUS).value;
}

// ---- CPUID and resolution ----------------------------------------------

TEST(SyndbgCpuid, DebugMsrsBitAndTheSynDbgLeaves) {
  SyndbgVm s;
  const CpuidValue f = s.d->cpuid(0, HV_CPUID_FEATURES);
  EXPECT_EQ(f.edx & HV_FEATURE_DEBUG_MSRS_AVAILABLE, HV_FEATURE_DEBUG_MSRS_AVAILABLE);
  // QEMU sets neither "guest debugging" (EDX[1]) nor HV_DEBUGGING (EBX[11]).
  EXPECT_EQ(f.edx & HV_FEATURE_GUEST_DEBUGGING_AVAILABLE, 0u);
  EXPECT_EQ(f.ebx & HV_DEBUGGING, 0u);
  EXPECT_EQ(s.d->cpuid(0, HV_CPUID_VENDOR_AND_MAX_FUNCTIONS).eax, HV_CPUID_SYNDBG_PLATFORM_CAPABILITIES);
  EXPECT_EQ(s.d->cpuid(0, HV_CPUID_SYNDBG_VENDOR_AND_MAX_FUNCTIONS),
            (CpuidValue{0, chars4("Micr"), chars4("osof"), chars4("t VS")}));
  EXPECT_EQ(s.d->cpuid(0, HV_CPUID_SYNDBG_INTERFACE), (CpuidValue{chars4("VS#1"), 0, 0, 0}));
  EXPECT_EQ(s.d->cpuid(0, HV_CPUID_SYNDBG_PLATFORM_CAPABILITIES), (CpuidValue{0x2, 0, 0, 0}));
}

TEST(SyndbgResolve, RequiresSynicAndRelaxedAsQemu) {
  try {
    make_vm("hv-relaxed,hv-syndbg");
    ADD_FAILURE() << "hv-syndbg without hv-synic resolved";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("synic"), std::string::npos) << e.what();
  }
  try {
    make_vm("hv-vpindex,hv-synic,hv-syndbg");
    ADD_FAILURE() << "hv-syndbg without hv-relaxed resolved";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("relaxed"), std::string::npos) << e.what();
  }
}

TEST(SyndbgResolve, RecommendsVmbusWithAWarningNotAnError) {
  const Catalog catalog = Catalog::discover(plugin_dir());
  const Resolution r = resolve(parse_cpu_flags("hv-relaxed,hv-vpindex,hv-synic,hv-syndbg", catalog), catalog,
                               direct::capabilities());
  std::string all;
  for (const auto& w : r.warnings) all += w + "\n";
  EXPECT_NE(all.find("vmbus"), std::string::npos) << all;
  EXPECT_TRUE(std::any_of(r.plugins.begin(), r.plugins.end(), [](const ResolvedPlugin& p) { return p.manifest->name == "syndbg"; }));
}

TEST(SyndbgResolve, PassthroughLeavesItOut) {
  // QEMU's kvm_hyperv_properties[HYPERV_FEAT_SYNDBG].skip_passthrough.
  auto d = make_vm("hv-passthrough");
  for (const LoadedPlugin& p : d->vm().plugins()) EXPECT_NE(p.manifest->name, "syndbg");
  EXPECT_EQ(d->cpuid(0, HV_CPUID_FEATURES).edx & HV_FEATURE_DEBUG_MSRS_AVAILABLE, 0u);
  EXPECT_EQ(d->cpuid(0, HV_CPUID_SYNDBG_PLATFORM_CAPABILITIES), CpuidValue{});
  EXPECT_NE(d->cpuid(0, HV_CPUID_VENDOR_AND_MAX_FUNCTIONS).eax, HV_CPUID_SYNDBG_PLATFORM_CAPABILITIES);
}

TEST(SyndbgResolve, AHostNameOrABadAddressIsRefusedWithTheFix) {
  DebuggerHost host;
  for (const char* bad : {"dbg.example", "256.1.1.1", "::1", "10.0.0", "", " 10.0.0.1"}) {
    try {
      make_vm_from_profile(profile(host.port(), std::string(", host: \"") + bad + "\""));
      ADD_FAILURE() << bad << " was accepted";
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find("not an IPv4 address"), std::string::npos) << e.what();
    }
  }
  // Longer than any dotted quad: refused by the manifest's max-length.
  EXPECT_THROW(make_vm_from_profile(profile(host.port(), ", host: debugger.example")), ConfigError);
}

TEST(SyndbgResolve, PortZeroIsOutsideTheOption) {
  EXPECT_THROW(make_vm_from_profile(profile(0)), ConfigError);
  EXPECT_THROW(make_vm_from_profile(profile(1, ", port: 65536")), ConfigError);
}

// ---- Registers -------------------------------------------------------------

TEST(SyndbgMsr, AllStartAtZero) {
  SyndbgVm s;
  for (uint32_t msr : kMsrs) {
    const MsrRead r = s.d->rdmsr(0, msr);
    EXPECT_TRUE(r.ok()) << std::hex << msr;
    EXPECT_EQ(r.value, 0u) << std::hex << msr;
  }
}

TEST(SyndbgMsr, UseHcallsOptionPresetsOptionsBit2) {
  SyndbgVm s(", use-hcalls: true");
  EXPECT_EQ(s.d->rdmsr(0, HV_X64_MSR_SYNDBG_OPTIONS).value, HV_X64_SYNDBG_OPTION_USE_HCALLS);
}

TEST(SyndbgMsr, EveryValueIsStoredAndPartitionWide) {
  // KVM's syndbg_set_msr stores any value (no reserved bits, no #GP), in
  // per-VM state: another vCPU, and the host, read it back.
  SyndbgVm s("", false, 2);
  for (uint32_t msr : {HV_X64_MSR_SYNDBG_STATUS, HV_X64_MSR_SYNDBG_SEND_BUFFER, HV_X64_MSR_SYNDBG_RECV_BUFFER,
                       HV_X64_MSR_SYNDBG_PENDING_BUFFER, HV_X64_MSR_SYNDBG_OPTIONS}) {
    for (uint64_t v : {uint64_t{0x1234000}, ~uint64_t{0}, uint64_t{0x8000000000000FFF}, uint64_t{0}}) {
      ASSERT_EQ(s.d->wrmsr(0, msr, v), Access::Ok) << std::hex << msr;
      EXPECT_EQ(s.d->rdmsr(1, msr).value, v) << std::hex << msr;
      EXPECT_EQ(s.d->host_rdmsr(1, msr).value, v) << std::hex << msr;
    }
  }
  EXPECT_EQ(s.count("sent_datagrams"), 0);
  EXPECT_EQ(s.count("rejected_requests"), 0);
}

TEST(SyndbgMsr, ControlReadsBackAndWithNeitherBitClearsStatus) {
  SyndbgVm s;
  ASSERT_EQ(s.d->wrmsr(0, HV_X64_MSR_SYNDBG_STATUS, 0xFF), Access::Ok);
  const uint64_t control = 0xFFFFFFFF00000000ull | (5ull << HV_SYNDBG_CONTROL_SEND_SIZE_SHIFT) | 0xFFFC;
  ASSERT_EQ(s.d->wrmsr(0, HV_X64_MSR_SYNDBG_CONTROL, control), Access::Ok);
  EXPECT_EQ(s.d->rdmsr(0, HV_X64_MSR_SYNDBG_CONTROL).value, control);
  EXPECT_EQ(s.d->rdmsr(0, HV_X64_MSR_SYNDBG_STATUS).value, HV_SYNDBG_STATUS_INVALID);
  EXPECT_EQ(s.count("sent_datagrams"), 0);
}

TEST(SyndbgMsr, HostWritesStoreAndNeverSendOrReceive) {
  SyndbgVm s;
  s.put(kSendPage, bytes("restored"));
  ASSERT_EQ(s.d->host_wrmsr(0, HV_X64_MSR_SYNDBG_SEND_BUFFER, kSendPage), Access::Ok);
  ASSERT_EQ(s.d->host_wrmsr(0, HV_X64_MSR_SYNDBG_STATUS, 0x7), Access::Ok);
  ASSERT_EQ(s.d->host_wrmsr(0, HV_X64_MSR_SYNDBG_CONTROL, send_control(8)), Access::Ok);
  EXPECT_EQ(s.d->rdmsr(0, HV_X64_MSR_SYNDBG_CONTROL).value, send_control(8));
  EXPECT_EQ(s.d->rdmsr(0, HV_X64_MSR_SYNDBG_STATUS).value, 0x7u);  // no exit, no new status
  EXPECT_EQ(s.count("sent_datagrams"), 0);
  EXPECT_FALSE(s.host.receive(std::chrono::milliseconds(200)).has_value());

  ASSERT_TRUE(s.host.send_to(s.vm_port(), bytes("queued")));
  ASSERT_TRUE(eventually([&] { return s.count("received_datagrams") == 1; }));
  ASSERT_EQ(s.d->host_wrmsr(0, HV_X64_MSR_SYNDBG_RECV_BUFFER, kRecvPage), Access::Ok);
  ASSERT_EQ(s.d->host_wrmsr(0, HV_X64_MSR_SYNDBG_CONTROL, HV_SYNDBG_CONTROL_RECV), Access::Ok);
  EXPECT_EQ(s.d->rdmsr(0, HV_X64_MSR_SYNDBG_STATUS).value, 0x7u);
  // Still queued: the guest's own RECV gets it.
  EXPECT_EQ(msr_receive(s), recv_status(6));
  EXPECT_EQ(s.guest(kRecvPage, 6), bytes("queued"));
}

// ---- SEND ----------------------------------------------------------------

TEST(SyndbgSend, APayloadArrivesAtTheDebuggerHost) {
  SyndbgVm s;
  const Bytes data = pattern(100, 3);
  EXPECT_EQ(msr_send(s, data), HV_SYNDBG_STATUS_SEND_SUCCESS);
  sockaddr_in from{};
  const auto got = s.host.receive(std::chrono::milliseconds(5000), &from);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, data);
  EXPECT_EQ(ntohs(from.sin_port), s.vm_port());
  EXPECT_EQ(ntohl(from.sin_addr.s_addr), INADDR_LOOPBACK);
  EXPECT_EQ(s.count("sent_datagrams"), 1);
}

TEST(SyndbgSend, AWholePageAndAnEmptyPayload) {
  SyndbgVm s;
  const Bytes page = pattern(HV_PAGE_SIZE, 9);
  EXPECT_EQ(msr_send(s, page), HV_SYNDBG_STATUS_SEND_SUCCESS);
  EXPECT_EQ(s.host.receive(), std::optional<Bytes>(page));
  // QEMU sends a zero-length datagram for size 0.
  EXPECT_EQ(msr_send(s, Bytes{}), HV_SYNDBG_STATUS_SEND_SUCCESS);
  EXPECT_EQ(s.host.receive(), std::optional<Bytes>(Bytes{}));
  EXPECT_EQ(s.count("sent_datagrams"), 2);
}

TEST(SyndbgSend, FromAnyVcpu) {
  SyndbgVm s("", false, 3);
  EXPECT_EQ(msr_send(s, bytes("two"), 2), HV_SYNDBG_STATUS_SEND_SUCCESS);
  EXPECT_EQ(s.host.receive(), std::optional<Bytes>(bytes("two")));
  // Partition-wide: vCPU 0 sees the status vCPU 2's send left.
  EXPECT_EQ(s.d->rdmsr(0, HV_X64_MSR_SYNDBG_STATUS).value, HV_SYNDBG_STATUS_SEND_SUCCESS);
}

TEST(SyndbgSend, SendWinsOverReceive) {
  SyndbgVm s;
  ASSERT_TRUE(s.host.send_to(s.vm_port(), bytes("in")));
  ASSERT_TRUE(eventually([&] { return s.count("received_datagrams") == 1; }));
  s.put(kSendPage, bytes("out"));
  ASSERT_EQ(s.d->wrmsr(0, HV_X64_MSR_SYNDBG_SEND_BUFFER, kSendPage), Access::Ok);
  ASSERT_EQ(s.d->wrmsr(0, HV_X64_MSR_SYNDBG_CONTROL, send_control(3) | HV_SYNDBG_CONTROL_RECV), Access::Ok);
  EXPECT_EQ(s.d->rdmsr(0, HV_X64_MSR_SYNDBG_STATUS).value, HV_SYNDBG_STATUS_SEND_SUCCESS);
  EXPECT_EQ(s.host.receive(), std::optional<Bytes>(bytes("out")));
  EXPECT_EQ(msr_receive(s), recv_status(2));  // the datagram was not taken
}

struct BadSend {
  const char* what;
  uint64_t gpa, size;
};

TEST(SyndbgSend, HostileSizesAndBuffersAnswerStatusZeroAndSendNothing) {
  SyndbgVm s;
  const BadSend cases[] = {
      {"one byte over a page", kSendPage, HV_PAGE_SIZE + 1},
      {"the largest size field", kSendPage, 0xFFFF},
      // The size is bits 31:16: 0x1FFFF sets bit 32 too and is read as 0xFFFF.
      {"a size wider than its field", kSendPage, 0x1FFFF},
      {"crosses the end of RAM", kRam - 10, 100},
      {"starts past the end of RAM", kRam, 1},
      {"GPA all ones", ~uint64_t{0}, 1},
      {"GPA + size wraps", 0xFFFFFFFFFFFFF800ull, HV_PAGE_SIZE},
      {"empty, but past the end of RAM", kRam + HV_PAGE_SIZE, 0},
  };
  int64_t rejected = 0;
  for (const BadSend& c : cases) {
    SCOPED_TRACE(c.what);
    ASSERT_EQ(s.d->wrmsr(0, HV_X64_MSR_SYNDBG_STATUS, 0xFF), Access::Ok);
    ASSERT_EQ(s.d->wrmsr(0, HV_X64_MSR_SYNDBG_SEND_BUFFER, c.gpa), Access::Ok);
    ASSERT_EQ(s.d->wrmsr(0, HV_X64_MSR_SYNDBG_CONTROL, send_control(c.size)), Access::Ok);
    EXPECT_EQ(s.d->rdmsr(0, HV_X64_MSR_SYNDBG_STATUS).value, HV_SYNDBG_STATUS_INVALID);
    EXPECT_EQ(s.count("rejected_requests"), ++rejected);
  }
  EXPECT_EQ(s.count("sent_datagrams"), 0);
  EXPECT_EQ(s.d->vm().stop_reason(), StopReason::None);
  // Nothing went out: the first datagram the host sees is the next good one.
  EXPECT_EQ(msr_send(s, bytes("good")), HV_SYNDBG_STATUS_SEND_SUCCESS);
  EXPECT_EQ(s.host.receive(), std::optional<Bytes>(bytes("good")));
}

TEST(SyndbgSend, LastBytesOfRamAreFine) {
  SyndbgVm s;
  const Bytes tail = pattern(16, 1);
  ASSERT_TRUE(s.d->memory().write(kRam - 16, tail.data(), tail.size()));
  ASSERT_EQ(s.d->wrmsr(0, HV_X64_MSR_SYNDBG_SEND_BUFFER, kRam - 16), Access::Ok);
  ASSERT_EQ(s.d->wrmsr(0, HV_X64_MSR_SYNDBG_CONTROL, send_control(16)), Access::Ok);
  EXPECT_EQ(s.d->rdmsr(0, HV_X64_MSR_SYNDBG_STATUS).value, HV_SYNDBG_STATUS_SEND_SUCCESS);
  EXPECT_EQ(s.host.receive(), std::optional<Bytes>(tail));
}

// ---- RECV and the pending page --------------------------------------------

TEST(SyndbgReceive, ADatagramIsFlaggedThenCopiedToTheReceivePage) {
  SyndbgVm s;
  s.put(kPendingPage, Bytes(HV_PAGE_SIZE, 0xAA));
  ASSERT_EQ(s.d->wrmsr(0, HV_X64_MSR_SYNDBG_PENDING_BUFFER, kPendingPage), Access::Ok);
  EXPECT_EQ(s.byte_at(kPendingPage), 0xAA);  // naming the page writes nothing while nothing waits
  const Bytes data = pattern(300, 5);
  ASSERT_TRUE(s.host.send_to(s.vm_port(), data));
  ASSERT_TRUE(eventually([&] { return s.byte_at(kPendingPage) == 1; }));
  EXPECT_EQ(s.count("received_datagrams"), 1);
  // Only the first byte is the flag (QEMU's set_pending_state).
  EXPECT_EQ(s.guest(kPendingPage + 1, HV_PAGE_SIZE - 1), Bytes(HV_PAGE_SIZE - 1, 0xAA));

  EXPECT_EQ(msr_receive(s), recv_status(300));
  EXPECT_EQ(s.guest(kRecvPage, 300), data);
  EXPECT_EQ(s.byte_at(kPendingPage), 0);  // the last one was taken
  // Nothing left: status 0 (QEMU: NO_DATA becomes status 0).
  EXPECT_EQ(msr_receive(s), HV_SYNDBG_STATUS_INVALID);
}

TEST(SyndbgReceive, RoundTripInOrderAndTheFlagStaysWhileDataWaits) {
  SyndbgVm s;
  ASSERT_EQ(s.d->wrmsr(0, HV_X64_MSR_SYNDBG_PENDING_BUFFER, kPendingPage), Access::Ok);
  EXPECT_EQ(msr_send(s, bytes("ping")), HV_SYNDBG_STATUS_SEND_SUCCESS);
  sockaddr_in vm{};
  ASSERT_EQ(s.host.receive(std::chrono::milliseconds(5000), &vm), std::optional<Bytes>(bytes("ping")));
  for (const char* reply : {"pong-1", "pong-22", "pong-333"}) ASSERT_TRUE(s.host.send_to(ntohs(vm.sin_port), bytes(reply)));
  ASSERT_TRUE(eventually([&] { return s.count("received_datagrams") == 3; }));
  EXPECT_EQ(msr_receive(s), recv_status(6));
  EXPECT_EQ(s.guest(kRecvPage, 6), bytes("pong-1"));
  EXPECT_EQ(s.byte_at(kPendingPage), 1);
  EXPECT_EQ(msr_receive(s), recv_status(7));
  EXPECT_EQ(s.guest(kRecvPage, 7), bytes("pong-22"));
  EXPECT_EQ(s.byte_at(kPendingPage), 1);
  EXPECT_EQ(msr_receive(s), recv_status(8));
  EXPECT_EQ(s.guest(kRecvPage, 8), bytes("pong-333"));
  EXPECT_EQ(s.byte_at(kPendingPage), 0);
}

TEST(SyndbgReceive, APageNamedAfterTheArrivalIsFlaggedAtOnce) {
  SyndbgVm s;
  const Bytes low_memory = s.guest(0, 16);
  ASSERT_TRUE(s.host.send_to(s.vm_port(), bytes("early")));
  ASSERT_TRUE(eventually([&] { return s.count("received_datagrams") == 1; }));
  EXPECT_EQ(s.guest(0, 16), low_memory);  // PENDING_BUFFER 0: no page, nothing written
  ASSERT_EQ(s.d->wrmsr(0, HV_X64_MSR_SYNDBG_PENDING_BUFFER, kPendingPage), Access::Ok);
  EXPECT_EQ(s.byte_at(kPendingPage), 1);
}

TEST(SyndbgReceive, PendingPageOutsideRamIsNeverWritten) {
  SyndbgVm s;
  for (uint64_t gpa : {kRam, ~uint64_t{0}, uint64_t{1} << 52}) {
    ASSERT_EQ(s.d->wrmsr(0, HV_X64_MSR_SYNDBG_PENDING_BUFFER, gpa), Access::Ok);
    ASSERT_TRUE(s.host.send_to(s.vm_port(), bytes("x")));
  }
  ASSERT_TRUE(eventually([&] { return s.count("received_datagrams") == 3; }));
  EXPECT_EQ(s.d->vm().stop_reason(), StopReason::None);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(msr_receive(s), recv_status(1));
  // The last byte of RAM is a valid pending "page".
  ASSERT_EQ(s.d->wrmsr(0, HV_X64_MSR_SYNDBG_PENDING_BUFFER, kRam - 1), Access::Ok);
  ASSERT_TRUE(s.host.send_to(s.vm_port(), bytes("y")));
  ASSERT_TRUE(eventually([&] { return s.byte_at(kRam - 1) == 1; }));
}

TEST(SyndbgReceive, AReceivePageOutsideRamKeepsTheDatagram) {
  SyndbgVm s;
  ASSERT_TRUE(s.host.send_to(s.vm_port(), bytes("keep me")));
  ASSERT_TRUE(eventually([&] { return s.count("received_datagrams") == 1; }));
  for (uint64_t gpa : {kRam - 6, kRam, ~uint64_t{0} - 2}) {
    EXPECT_EQ(msr_receive(s, gpa), HV_SYNDBG_STATUS_INVALID) << hex(gpa);
  }
  EXPECT_EQ(s.count("rejected_requests"), 3);
  EXPECT_EQ(msr_receive(s, kRam - 7), recv_status(7));  // exactly the last 7 bytes
  EXPECT_EQ(s.guest(kRam - 7, 7), bytes("keep me"));
}

TEST(SyndbgReceive, AFullQueueDropsAndCounts) {
  SyndbgVm s(", queue: 2");
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(s.host.send_to(s.vm_port(), bytes("d" + std::to_string(i))));
  ASSERT_TRUE(eventually([&] { return s.count("received_datagrams") + s.count("dropped_datagrams") == 5; }));
  EXPECT_EQ(s.count("received_datagrams"), 2);
  EXPECT_EQ(s.count("dropped_datagrams"), 3);
  EXPECT_EQ(msr_receive(s), recv_status(2));
  EXPECT_EQ(s.guest(kRecvPage, 2), bytes("d0"));
  EXPECT_EQ(msr_receive(s), recv_status(2));
  EXPECT_EQ(s.guest(kRecvPage, 2), bytes("d1"));
  EXPECT_EQ(msr_receive(s), HV_SYNDBG_STATUS_INVALID);
  // Room again.
  ASSERT_TRUE(s.host.send_to(s.vm_port(), bytes("d5")));
  ASSERT_TRUE(eventually([&] { return s.count("received_datagrams") == 3; }));
}

TEST(SyndbgReceive, DatagramsOver4046BytesAreDropped) {
  SyndbgVm s;
  ASSERT_TRUE(s.host.send_to(s.vm_port(), pattern(4047, 2)));
  ASSERT_TRUE(eventually([&] { return s.count("dropped_datagrams") == 1; }));
  const Bytes largest = pattern(4046, 4);
  ASSERT_TRUE(s.host.send_to(s.vm_port(), largest));
  ASSERT_TRUE(eventually([&] { return s.count("received_datagrams") == 1; }));
  EXPECT_EQ(msr_receive(s), recv_status(4046));
  EXPECT_EQ(s.guest(kRecvPage, 4046), largest);
}

TEST(SyndbgReceive, OnlyTheDebuggerHostIsHeard) {
  // The socket is connected, as QEMU's: datagrams from any other address or
  // port never reach the guest.
  SyndbgVm s;
  ASSERT_TRUE(DebuggerHost::send_from_stranger(s.vm_port(), bytes("intruder")));
  ASSERT_TRUE(s.host.send_to(s.vm_port(), bytes("debugger")));
  ASSERT_TRUE(eventually([&] { return s.count("received_datagrams") == 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(s.count("received_datagrams"), 1);
  EXPECT_EQ(s.count("dropped_datagrams"), 0);
  EXPECT_EQ(msr_receive(s), recv_status(8));
  EXPECT_EQ(s.guest(kRecvPage, 8), bytes("debugger"));
}

TEST(SyndbgTransport, DestroyingTheVmWhileDatagramsArriveStopsCleanly) {
  for (int round = 0; round < 3; ++round) {
    auto s = std::make_unique<SyndbgVm>(", queue: 4");
    ASSERT_EQ(s->d->wrmsr(0, HV_X64_MSR_SYNDBG_PENDING_BUFFER, kPendingPage), Access::Ok);
    const uint16_t port = s->vm_port();
    std::atomic<bool> stop{false};
    std::thread flood([&] {
      while (!stop.load()) s->host.send_to(port, bytes("flood"));
    });
    ASSERT_TRUE(eventually([&] { return s->count("dropped_datagrams") > 0; }));
    s->d.reset();  // joins the receive thread while datagrams keep coming
    stop.store(true);
    flood.join();
  }
}

TEST(SyndbgTransport, BindPortFixesTheVmsPort) {
  // A port free a moment ago; retried in the unlikely case it was taken since.
  for (int attempt = 0; attempt < 5; ++attempt) {
    uint16_t port;
    {
      DebuggerHost probe;
      port = probe.port();
    }
    try {
      SyndbgVm s(", bind-port: " + std::to_string(port));
      EXPECT_EQ(s.vm_port(), port);
      EXPECT_EQ(msr_send(s, bytes("from a fixed port")), HV_SYNDBG_STATUS_SEND_SUCCESS);
      sockaddr_in from{};
      ASSERT_TRUE(s.host.receive(std::chrono::milliseconds(5000), &from).has_value());
      EXPECT_EQ(ntohs(from.sin_port), port);
      return;
    } catch (const std::exception& e) {
      ASSERT_NE(std::string(e.what()).find("cannot bind"), std::string::npos) << e.what();
    }
  }
  FAIL() << "no free port in five attempts";
}

TEST(SyndbgTransport, NobodyListeningIsAFailedSendNotAFault) {
  // The first send to a closed port goes out; its ICMP port-unreachable
  // makes a later send (or the receive thread) see ECONNREFUSED. Either
  // way the guest gets status 0 or success, and the VM runs on.
  uint16_t closed;
  {
    DebuggerHost probe;
    closed = probe.port();
  }
  auto d = make_vm_from_profile(profile(closed));
  const Bytes data = bytes("anyone?");
  ASSERT_TRUE(d->memory().write(kSendPage, data.data(), data.size()));
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_SYNDBG_SEND_BUFFER, kSendPage), Access::Ok);
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_SYNDBG_CONTROL, send_control(data.size())), Access::Ok);
    const uint64_t status = d->rdmsr(0, HV_X64_MSR_SYNDBG_STATUS).value;
    EXPECT_TRUE(status == HV_SYNDBG_STATUS_SEND_SUCCESS || status == HV_SYNDBG_STATUS_INVALID) << status;
  }
  EXPECT_EQ(counter(*d, "enlight_syndbg_sent_datagrams_total") + counter(*d, "enlight_syndbg_failed_sends_total"), 20);
  EXPECT_EQ(d->vm().stop_reason(), StopReason::None);
}

// ---- hv-enforce-cpuid ---------------------------------------------------------

TEST(SyndbgEnforce, TheGateIsOpenBecauseTheBitIsAdvertised) {
  SyndbgVm s("", true);
  ASSERT_TRUE(s.d->vm().resolution().enforce_cpuid);
  for (uint32_t msr : kMsrs) {
    EXPECT_EQ(s.d->wrmsr(0, msr, 0), Access::Ok) << std::hex << msr;
    EXPECT_TRUE(s.d->rdmsr(0, msr).ok()) << std::hex << msr;
  }
  EXPECT_EQ(msr_send(s, bytes("enforced")), HV_SYNDBG_STATUS_SEND_SUCCESS);
  EXPECT_EQ(s.host.receive(), std::optional<Bytes>(bytes("enforced")));
}

// The closed gate: the shipped manifest with its gate moved to a bit nobody
// advertises, in a directory that shadows the build's (as
// tests/plugins/combined/test_enforce_cpuid_more.cpp does).
class SyndbgClosedGate : public ::testing::Test {
 protected:
  void SetUp() override {
    if (enlight::find_static_plugin("syndbg") != nullptr)
      GTEST_SKIP() << "syndbg is built in (ENLIGHT_STATIC_PLUGINS): manifests on disk cannot shadow it";
    const std::filesystem::path real = std::filesystem::path(ENLIGHT_TEST_PLUGIN_DIR);
    std::string text = read_file(real / "syndbg.yaml");
    size_t n = 0;
    for (size_t at = text.find("gate: 0x40000003.edx[11]"); at != std::string::npos;
         at = text.find("gate: 0x40000003.edx[11]", at), ++n)
      text.replace(at, 24, "gate: 0x40000003.edx[12]");
    ASSERT_EQ(n, 2u);
    text = replace_once(text, "library: syndbg.so", "library: " + (real / "syndbg.so").string());
    dir_.write("syndbg.yaml", text);
    search_ = {dir_.path().string(), real.string()};
  }
  std::unique_ptr<DirectVm> vm(bool enforce) {
    return make_vm_from_profile(profile(host_.port(), "", enforce), {}, search_);
  }
  DebuggerHost host_;
  TempDir dir_;
  std::vector<std::string> search_;
};

TEST_F(SyndbgClosedGate, GuestGetsGpHostStillReaches) {
  auto d = vm(true);
  for (uint32_t msr : kMsrs) {
    EXPECT_TRUE(d->rdmsr(0, msr).gp()) << std::hex << msr;
    EXPECT_EQ(d->wrmsr(0, msr, 0), Access::GP) << std::hex << msr;
    EXPECT_EQ(d->host_wrmsr(0, msr, 0x5000), Access::Ok) << std::hex << msr;
    EXPECT_EQ(d->host_rdmsr(0, msr).value, 0x5000u) << std::hex << msr;
  }
}

TEST_F(SyndbgClosedGate, WithoutEnforceTheGuestIsServed) {
  auto d = vm(false);
  for (uint32_t msr : kMsrs) EXPECT_EQ(d->wrmsr(0, msr, 0), Access::Ok) << std::hex << msr;
}

}  // namespace
}  // namespace enlight::test::syndbg
