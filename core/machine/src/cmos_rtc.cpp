// MC146818A registers (datasheet "Address Map", "Registers A-D") over the
// host's clock, as Linux reads them at boot (mach_get_cmos_time ->
// mc146818_get_time) and writes them back (mc146818_set_time: SET, the
// time registers, SET cleared). docs/machine-devices.md.
#include <enlight/machine/cmos_rtc.hpp>
#include <enlight/machine/layout.hpp>

#include <algorithm>
#include <utility>

namespace enlight::machine {

namespace {

// ---- Register indexes ----------------------------------------------------------
constexpr uint8_t kRegSeconds = 0x00;
constexpr uint8_t kRegSecondsAlarm = 0x01;
constexpr uint8_t kRegMinutes = 0x02;
constexpr uint8_t kRegMinutesAlarm = 0x03;
constexpr uint8_t kRegHours = 0x04;
constexpr uint8_t kRegHoursAlarm = 0x05;
constexpr uint8_t kRegDayOfWeek = 0x06;   // 1 = Sunday
constexpr uint8_t kRegDayOfMonth = 0x07;
constexpr uint8_t kRegMonth = 0x08;
constexpr uint8_t kRegYear = 0x09;        // two digits
constexpr uint8_t kRegA = 0x0A;
constexpr uint8_t kRegB = 0x0B;
constexpr uint8_t kRegC = 0x0C;
constexpr uint8_t kRegD = 0x0D;
constexpr uint8_t kRegCentury = kCmosCenturyIndex;  // the FADT's CENTURY field names it
// BIOS memory-size bytes (QEMU pc_cmos_init).
constexpr uint8_t kRegBaseMemLo = 0x15, kRegBaseMemHi = 0x16;
constexpr uint8_t kRegExtMemLo = 0x17, kRegExtMemHi = 0x18;
constexpr uint8_t kRegExtMem2Lo = 0x30, kRegExtMem2Hi = 0x31;
constexpr uint8_t kRegHighMemLo = 0x34, kRegHighMemHi = 0x35;

constexpr uint8_t kIndexMask = 0x7F;      // bit 7 of the index port: NMI disable

// ---- Register A ------------------------------------------------------------------
constexpr uint8_t kAUip = 1u << 7;        // read-only
constexpr uint8_t kAWritable = 0x7F;      // divider (6:4) and rate select (3:0)
constexpr uint8_t kAPowerOn = 0x26;       // 32.768 kHz time base, 1024 Hz rate
// UIP is 1 from 244 us before the update (datasheet: tBUC) until it ends;
// the update itself (under 2 ms) is instantaneous here, at the second.
constexpr int64_t kUipWindowNs = 244'000;

// ---- Register B ------------------------------------------------------------------
constexpr uint8_t kBSet = 1u << 7;        // updates inhibited, time registers writable
constexpr uint8_t kBUie = 1u << 4;        // cleared by SET going to 1 (datasheet)
constexpr uint8_t kBBinary = 1u << 2;     // DM: 1 = binary, 0 = BCD
constexpr uint8_t kB24Hour = 1u << 1;
constexpr uint8_t kBPowerOn = kB24Hour;   // 24 h, BCD: what PC firmware leaves

// ---- Registers C and D -------------------------------------------------------------
constexpr uint8_t kCNoFlags = 0x00;
constexpr uint8_t kDValidRam = 1u << 7;   // VRT: battery good, time and RAM valid

constexpr uint8_t kHourPm = 1u << 7;      // 12-hour mode

constexpr int64_t kNsPerSecond = 1'000'000'000;
constexpr int64_t kSecondsPerMinute = 60;
constexpr int64_t kSecondsPerHour = 3'600;
constexpr int64_t kSecondsPerDay = 86'400;
constexpr int kHoursPerHalfDay = 12;
constexpr int64_t kDaysPerWeek = 7;
// Two-digit year plus century: years 0-9999.
constexpr int64_t kYearsRepresentable = 10'000;
// A restored offset is refused beyond this: setting any date of years
// 0-9999 under any host time int64 ns can hold gives less than 3e11 s,
// and this bound keeps latch_time_locked's sum far from overflowing.
constexpr int64_t kMaxOffsetSeconds = 1'000'000'000'000;

// ---- Memory size (KiB and 64 KiB units) ---------------------------------------------
constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;
constexpr uint64_t kBaseMemoryKiB = 640;
constexpr uint64_t kWordMax = 0xFFFF;

constexpr bool is_time_register(uint8_t reg) {
  return reg == kRegSeconds || reg == kRegMinutes || reg == kRegHours || reg == kRegDayOfWeek ||
         reg == kRegDayOfMonth || reg == kRegMonth || reg == kRegYear || reg == kRegCentury;
}

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }
int64_t floor_mod(int64_t a, int64_t b) { return a - floor_div(a, b) * b; }

// Proleptic Gregorian calendar <-> days since 1970-01-01, by counting
// 400-year eras of 146097 days from 0000-03-01 (so the leap day ends a year).
struct Date {
  int64_t year;
  int month;  // 1-12
  int day;    // 1-31
};

int64_t days_from_date(const Date& d) {
  const int64_t y = d.year - (d.month <= 2);
  const int64_t era = floor_div(y, 400);
  const int64_t yoe = y - era * 400;
  const int64_t mp = (d.month + 9) % 12;  // March = 0
  const int64_t doy = (153 * mp + 2) / 5 + d.day - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

Date date_from_days(int64_t days) {
  const int64_t z = days + 719468;
  const int64_t era = floor_div(z, 146097);
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  const int month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  return {yoe + era * 400 + (month <= 2), month, day};
}

bool is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in_month(int64_t year, int month) {
  constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap(year) ? 29 : kDays[month - 1];
}

// 1970-01-01 was a Thursday: day of week 5 with Sunday = 1.
constexpr int64_t kEpochDayOfWeek = 4;  // 0-based, Sunday = 0

uint8_t to_bcd(int v) { return static_cast<uint8_t>(((v / 10) << 4) | (v % 10)); }

// A register value in the current data mode; -1 if it is not a valid BCD
// number (a nibble above 9).
int decode(uint8_t v, bool binary) {
  if (binary) return v;
  if ((v & 0x0F) > 9 || (v >> 4) > 9) return -1;
  return (v >> 4) * 10 + (v & 0x0F);
}

}  // namespace

CmosRtc::CmosRtc(std::function<int64_t()> wall_ns, uint64_t ram_bytes) : wall_ns_(std::move(wall_ns)) {
  ram_[kRegA] = kAPowerOn;
  ram_[kRegB] = kBPowerOn;
  // The memory-size bytes as QEMU's pc_cmos_init writes them: RAM is one
  // region from 0, all of it below 4 GiB (layout.hpp kMaxRam).
  const uint64_t base_kib = std::min(ram_bytes / kKiB, kBaseMemoryKiB);
  const uint64_t ext_kib = ram_bytes > kMiB ? std::min((ram_bytes - kMiB) / kKiB, kWordMax) : 0;
  const uint64_t high_64k = ram_bytes > 16 * kMiB ? std::min((ram_bytes - 16 * kMiB) / (64 * kKiB), kWordMax) : 0;
  ram_[kRegBaseMemLo] = static_cast<uint8_t>(base_kib);
  ram_[kRegBaseMemHi] = static_cast<uint8_t>(base_kib >> 8);
  ram_[kRegExtMemLo] = ram_[kRegExtMem2Lo] = static_cast<uint8_t>(ext_kib);
  ram_[kRegExtMemHi] = ram_[kRegExtMem2Hi] = static_cast<uint8_t>(ext_kib >> 8);
  ram_[kRegHighMemLo] = static_cast<uint8_t>(high_64k);
  ram_[kRegHighMemHi] = static_cast<uint8_t>(high_64k >> 8);
}

uint32_t CmosRtc::in(uint16_t port, uint8_t /*size*/) {
  std::lock_guard lock(mutex_);
  // The index port is write-only on the MC146818; reading it back the value
  // written harms nothing and helps debugging.
  if (port == kCmosIndex) return index_;
  if (port != kCmosData) return 0;
  return read_locked(index_ & kIndexMask);
}

void CmosRtc::out(uint16_t port, uint8_t /*size*/, uint32_t value) {
  std::lock_guard lock(mutex_);
  const uint8_t byte = static_cast<uint8_t>(value);
  if (port == kCmosIndex) {
    // NMI disable (bit 7) is kept but not acted on: NMIs here come from
    // nothing that port 0x70 gates.
    index_ = byte;
  } else if (port == kCmosData) {
    write_locked(index_ & kIndexMask, byte);
  }
}

int64_t CmosRtc::offset_seconds() {
  std::lock_guard lock(mutex_);
  return offset_s_;
}

void CmosRtc::save(StateWriter& w) {
  std::lock_guard lock(mutex_);
  w.put(ram_);
  w.put(index_);
  w.put(offset_s_);
}

bool CmosRtc::load(StateReader& r) {
  std::array<uint8_t, kBytes> ram{};
  r.get(ram);
  const auto index = r.get<uint8_t>();  // every byte is a valid index (bit 7: NMI disable)
  const auto offset = r.get<int64_t>();
  // What write_locked stores; the time registers and CMOS RAM take any byte.
  if (ram[kRegA] & ~kAWritable) r.refuse("RTC register A", ram[kRegA], "UIP is read-only, never stored");
  if ((ram[kRegB] & kBSet) && (ram[kRegB] & kBUie))
    r.refuse("RTC register B", ram[kRegB], "UIE set beside SET (setting SET clears it)");
  if (ram[kRegC] != 0) r.refuse("RTC register C", ram[kRegC], "read-only, never stored");
  if (ram[kRegD] != 0) r.refuse("RTC register D", ram[kRegD], "read-only, never stored");
  if (offset > kMaxOffsetSeconds || offset < -kMaxOffsetSeconds)
    r.refuse("RTC clock offset (s)", static_cast<uint64_t>(offset), "beyond any date the registers can hold");
  if (!r.ok()) return false;
  std::lock_guard lock(mutex_);
  ram_ = ram;
  index_ = index;
  // Host time plus the guest's offset, as QEMU's default -rtc clock=host.
  offset_s_ = offset;
  return true;
}

uint8_t CmosRtc::read_locked(uint8_t reg) {
  const bool set = ram_[kRegB] & kBSet;
  if (is_time_register(reg)) {
    if (!set) latch_time_locked();
    return ram_[reg];
  }
  switch (reg) {
    case kRegA: {
      uint8_t a = ram_[kRegA];
      // With SET the clock does not update, so no update is in progress.
      if (!set && floor_mod(wall_ns_(), kNsPerSecond) >= kNsPerSecond - kUipWindowNs) a |= kAUip;
      return a;
    }
    case kRegC:
      // No interrupt source exists (no periodic, alarm or update-ended
      // interrupt is generated), so there are never flags to report or to
      // clear by this read.
      return kCNoFlags;
    case kRegD:
      return kDValidRam;
    default:
      return ram_[reg];
  }
}

void CmosRtc::write_locked(uint8_t reg, uint8_t value) {
  const bool set = ram_[kRegB] & kBSet;
  if (is_time_register(reg)) {
    if (set) {
      ram_[reg] = value;  // takes effect when SET returns to 0
    } else {
      // Writing a running clock sets that field at once (the datasheet
      // asks for SET first, but nothing stops software from skipping it).
      latch_time_locked();
      ram_[reg] = value;
      commit_time_locked();
    }
    return;
  }
  switch (reg) {
    case kRegA:
      // Divider and rate bits as software wrote them: they do not stop or
      // reset the clock (mc146818_set_time writes a divider reset around its
      // update; the time it writes is taken when SET clears).
      ram_[kRegA] = value & kAWritable;
      break;
    case kRegB: {
      const bool now_set = value & kBSet;
      if (!set && now_set) {
        ram_[kRegB] = static_cast<uint8_t>(value & ~kBUie);
        latch_time_locked();  // the registers freeze at the time of the write
      } else if (set && !now_set) {
        ram_[kRegB] = value;
        commit_time_locked();
      } else {
        ram_[kRegB] = now_set ? static_cast<uint8_t>(value & ~kBUie) : value;
      }
      break;
    }
    case kRegC:
    case kRegD:
      break;  // read-only
    default:
      ram_[reg] = value;  // alarms and CMOS RAM
      break;
  }
}

void CmosRtc::latch_time_locked() {
  const int64_t now_s = floor_div(wall_ns_(), kNsPerSecond) + offset_s_;
  const int64_t days = floor_div(now_s, kSecondsPerDay);
  const int64_t secs = now_s - days * kSecondsPerDay;
  const Date date = date_from_days(days);
  const bool binary = ram_[kRegB] & kBBinary;
  auto enc = [binary](int v) { return binary ? static_cast<uint8_t>(v) : to_bcd(v); };

  const int hour = static_cast<int>(secs / kSecondsPerHour);
  ram_[kRegSeconds] = enc(static_cast<int>(secs % kSecondsPerMinute));
  ram_[kRegMinutes] = enc(static_cast<int>(secs / kSecondsPerMinute % 60));
  if (ram_[kRegB] & kB24Hour) {
    ram_[kRegHours] = enc(hour);
  } else {
    // 12-hour mode: 12 AM, 1-11 AM, 12 PM, 1-11 PM; bit 7 = PM in both modes.
    const int h12 = hour % kHoursPerHalfDay == 0 ? kHoursPerHalfDay : hour % kHoursPerHalfDay;
    ram_[kRegHours] = static_cast<uint8_t>(enc(h12) | (hour >= kHoursPerHalfDay ? kHourPm : 0));
  }
  ram_[kRegDayOfWeek] = enc(static_cast<int>(floor_mod(days + kEpochDayOfWeek, kDaysPerWeek)) + 1);
  ram_[kRegDayOfMonth] = enc(date.day);
  ram_[kRegMonth] = enc(date.month);
  // The register pair holds years 0-9999; outside it (a clock set absurdly
  // far) the century wraps rather than overflowing a byte.
  const int64_t year = floor_mod(date.year, kYearsRepresentable);
  ram_[kRegYear] = enc(static_cast<int>(year % 100));
  ram_[kRegCentury] = enc(static_cast<int>(year / 100));
}

bool CmosRtc::commit_time_locked() {
  const bool binary = ram_[kRegB] & kBBinary;
  const int sec = decode(ram_[kRegSeconds], binary);
  const int min = decode(ram_[kRegMinutes], binary);
  int hour;
  if (ram_[kRegB] & kB24Hour) {
    hour = decode(ram_[kRegHours], binary);
  } else {
    const int h12 = decode(ram_[kRegHours] & ~kHourPm, binary);
    hour = (h12 < 1 || h12 > kHoursPerHalfDay)
               ? -1
               : h12 % kHoursPerHalfDay + ((ram_[kRegHours] & kHourPm) ? kHoursPerHalfDay : 0);
  }
  const int day = decode(ram_[kRegDayOfMonth], binary);
  const int month = decode(ram_[kRegMonth], binary);
  const int yy = decode(ram_[kRegYear], binary);
  const int cc = decode(ram_[kRegCentury], binary);
  // A date the chip could not hold (month 13, 31 April, minute 60, a BCD
  // digit above 9) leaves the clock as it was. Day of week is not an input:
  // it is derived from the date on every read, so a wrong one cannot stick.
  if (sec < 0 || sec > 59 || min < 0 || min > 59 || hour < 0 || hour > 23 || month < 1 || month > 12 ||
      yy < 0 || yy > 99 || cc < 0 || cc > 99)
    return false;
  const int64_t year = int64_t{cc} * 100 + yy;
  if (day < 1 || day > days_in_month(year, month)) return false;
  const int64_t set_s =
      days_from_date({year, month, day}) * kSecondsPerDay + hour * kSecondsPerHour + min * kSecondsPerMinute + sec;
  offset_s_ = set_s - floor_div(wall_ns_(), kNsPerSecond);
  return true;
}

}  // namespace enlight::machine
