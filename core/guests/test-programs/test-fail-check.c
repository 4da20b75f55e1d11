/*
 * test-fail-check: a guest that fails on purpose, so the tests can prove a
 * failing guest check reaches the host (FAIL record, non-zero exit status)
 * and fails `enlight run` (exit code 1). Built with the product guests but
 * never embedded in the binary: the tests load it by path.
 */
#include <enlight_guest/guest.h>

int main(void) {
  CHECK_EQ("test.deliberate_pass", 1, 1);
  CHECK_EQ("test.deliberate_failure", 0x1234, 0x4321);
  return (int)guest_checks_failed();
}
