/*
 * The plugin ABI's surface as one shared object, for libabigail: every
 * struct a plugin and the core exchange, reachable from one exported
 * function, compiled with debug info. abidiff compares it with the
 * committed baseline (baseline.abi); see CMakeLists.txt here and
 * docs/abi-policy.md.
 */
#include <enlight/abi.h>
#include <enlight/services/synic.h>
#include <enlight/services/vmbus.h>

__attribute__((visibility("default"))) void enlight_abi_surface(
    const enlight_plugin_descriptor* descriptor, const enlight_host* host, const enlight_vm_params* params,
    const enlight_hypercall* hypercall, enlight_hypercall_result* hypercall_result, enlight_error* error,
    const enlight_option* option, enlight_counter* counter, enlight_histogram* histogram,
    const enlight_synic_service* synic, const enlight_vmbus_service* vmbus, const enlight_vmbus_device* device,
    enlight_vmbus_packet* packet) {
  (void)descriptor, (void)host, (void)params, (void)hypercall, (void)hypercall_result, (void)error;
  (void)option, (void)counter, (void)histogram, (void)synic, (void)vmbus, (void)device, (void)packet;
}
