#if canImport(Glibc)
import Glibc
#endif

/// The daemon's open-files limit: every call holds about three descriptors and every subscriber one, and a shell's
/// or container's soft limit (often 1024) is far below what the hard limit allows.
enum OpenFilesLimit {
    /// Enough for the thousand calls the load tests hold, with their subscribers.
    static let comfortable = 4096

    /// Raises the soft limit to the hard one, as servers do, and returns the soft limit now in force.
    static func raise() -> Int {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return Int(clamping: limit.rlim_cur)  // RLIM_INFINITY is the largest value
    }
}
