import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Set by the first SIGINT or SIGTERM while `attune analyze` reads a live input.
let liveStopRequested = Atomic<Bool>(false)

/// Whether `audio` is read live: a pipe, FIFO or device has no end the user can wait for (`arecord … | attune
/// analyze -`), where a regular file is read to its end as fast as the CPU allows.
func isLiveInput(_ audio: PathArgument) -> Bool {
    var st = stat()
    let found = audio.name == "-" ? fstat(0, &st) : audio.bytes.withUnsafeBufferPointer { stat($0.baseAddress!, &st) }
    return found == 0 && (st.st_mode & S_IFMT) != S_IFREG
}

/// Makes the first SIGINT or SIGTERM end a live analysis cleanly: it stops once the block being read is complete
/// (half a second of audio at 8 kHz, or the input's end: Ctrl-C in a terminal also ends `arecord` before it), then
/// writes every record and the summaries and exits 0, so Ctrl-C on a capture keeps what was analysed. A second
/// signal ends the process at once, for a writer that has stopped sending.
func stopAtNextBlockOnSignal() {
    for sig in [SIGINT, SIGTERM] {
        signal(sig) { sig in
            if liveStopRequested.exchange(true, ordering: .relaxed) { _exit(128 + sig) }
        }
    }
}
