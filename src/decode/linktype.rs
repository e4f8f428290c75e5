//! LINKTYPE_* numbers keepwatch decodes (see tcpdump.org/linktypes.html).

pub const NULL: u32 = 0;
pub const ETHERNET: u32 = 1;
pub const RAW_OPENBSD: u32 = 12;
pub const RAW_BSDI: u32 = 14;
pub const RAW: u32 = 101;
pub const LOOP: u32 = 108;
pub const LINUX_SLL: u32 = 113;
pub const IPV4: u32 = 228;
pub const IPV6: u32 = 229;
pub const LINUX_SLL2: u32 = 276;

/// A name for a link type, for messages ("unsupported link type 147 (USER0)").
pub fn name(lt: u32) -> String {
    let s = match lt {
        NULL => "NULL",
        ETHERNET => "EN10MB",
        RAW_OPENBSD | RAW_BSDI | RAW => "RAW",
        LOOP => "LOOP",
        LINUX_SLL => "LINUX_SLL",
        IPV4 => "IPV4",
        IPV6 => "IPV6",
        LINUX_SLL2 => "LINUX_SLL2",
        105 => "IEEE802_11",
        127 => "IEEE802_11_RADIOTAP",
        147..=162 => return format!("USER{}", lt - 147),
        _ => "unknown",
    };
    s.to_string()
}

pub fn is_supported(lt: u32) -> bool {
    matches!(
        lt,
        NULL | ETHERNET
            | RAW_OPENBSD
            | RAW_BSDI
            | RAW
            | LOOP
            | LINUX_SLL
            | IPV4
            | IPV6
            | LINUX_SLL2
    )
}
