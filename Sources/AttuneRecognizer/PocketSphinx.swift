import CPocketSphinx
import Foundation

/// Why the recogniser could not be set up or run: the call or file, and the cause. `exitCode` follows sysexits.
public struct RecognizerError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String
    /// 69 (unavailable) when the default model is not installed: nothing the user configured is wrong, the machine
    /// lacks a package. 78 (configuration) when a model directory the user named does not hold a model. 74 when
    /// pocketsphinx fails on a model that looked complete, or while decoding.
    public var exitCode: Int32

    public init(_ message: String, exitCode: Int32) { self.message = message; self.exitCode = exitCode }
    public var description: String { message }
}

/// Where the en-us model lives: Debian's `pocketsphinx-en-us` layout (acoustic model directory, trigram language
/// model, CMU pronouncing dictionary).
public struct RecognizerModel: Sendable, Equatable {
    /// The directory holding `en-us/`, `en-us.lm.bin` and `cmudict-en-us.dict`.
    public var directory: String
    /// Whether the user named the directory (`ATTUNE_POCKETSPHINX_MODEL`), which makes a missing model a
    /// configuration error (78) rather than a missing package (69).
    public var configured: Bool

    /// Debian's install location.
    public static let defaultDirectory = "/usr/share/pocketsphinx/model/en-us"

    public init(directory: String, configured: Bool) { self.directory = directory; self.configured = configured }

    /// `ATTUNE_POCKETSPHINX_MODEL` when set, Debian's directory otherwise.
    public static func fromEnvironment() -> RecognizerModel {
        if let dir = ProcessInfo.processInfo.environment["ATTUNE_POCKETSPHINX_MODEL"], !dir.isEmpty {
            return RecognizerModel(directory: dir, configured: true)
        }
        return RecognizerModel(directory: defaultDirectory, configured: false)
    }

    var acousticModel: String { directory + "/en-us" }
    var languageModel: String { directory + "/en-us.lm.bin" }
    var dictionary: String { directory + "/cmudict-en-us.dict" }

    /// Checks that every file pocketsphinx will open is there. Some of its loaders end the process (`E_FATAL`) on
    /// a missing file instead of returning an error, so this must happen before `ps_init`.
    public func check() throws(RecognizerError) {
        let needed = [acousticModel + "/mdef", acousticModel + "/means", acousticModel + "/variances",
                      acousticModel + "/transition_matrices", acousticModel + "/sendump", acousticModel + "/feat.params",
                      languageModel, dictionary]
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) && isDirectory.boolValue
        let missing = exists ? needed.filter { !FileManager.default.isReadableFile(atPath: $0) } : []
        guard !exists || !missing.isEmpty else { return }
        let what = exists ? "\(directory): no readable \(missing.map { String($0.dropFirst(directory.count + 1)) }.joined(separator: ", "))"
                          : "\(directory): no such model directory"
        if configured {
            throw RecognizerError("pocketsphinx model \(what) (set by ATTUNE_POCKETSPHINX_MODEL; it must hold en-us/, "
                                  + "en-us.lm.bin and cmudict-en-us.dict as Debian's pocketsphinx-en-us installs them)", exitCode: 78)
        }
        throw RecognizerError("pocketsphinx model \(what) (install Debian's pocketsphinx-en-us, or point "
                              + "ATTUNE_POCKETSPHINX_MODEL at a copy)", exitCode: 69)
    }
}

/// sphinxbase's log goes through the shim's callback from the first recogniser on: the first error since the last
/// clear is kept in this buffer for our own messages, the per-file chatter is dropped. Process-wide, so the setup
/// calls, where errors are expected (a bad model), take ``pocketSphinxLock`` to read the error they logged.
nonisolated(unsafe) private let errorBuffer: UnsafeMutablePointer<CChar> = {
    let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(ATTUNE_PS_ERROR_SIZE))
    buffer.initialize(repeating: 0, count: Int(ATTUNE_PS_ERROR_SIZE))
    attune_ps_quiet_log(buffer)
    return buffer
}()

/// Serialises the setup calls so each reads its own error. Decoding is not serialised (recognisers of many calls
/// decode at once); its failures, which need a broken model or memory, name the call only.
private let pocketSphinxLock = NSLock()

/// Runs `body` under the lock with a cleared error buffer; `body` gets a function that names the logged error.
private func withPocketSphinx<T>(_ body: ((String) -> String) throws(RecognizerError) -> T) throws(RecognizerError) -> T {
    pocketSphinxLock.lock()
    defer { pocketSphinxLock.unlock() }
    errorBuffer[0] = 0
    return try body { fallback in
        let text = String(cString: errorBuffer).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? fallback : text
    }
}

/// A pocketsphinx configuration (`cmd_ln_t`): one `final class` per handle, freed in `deinit`.
///
/// Built with `cmd_ln_parse_r` from name/value pairs, since `cmd_ln_init` is variadic and Swift cannot call it.
final class PocketSphinxConfig {
    let handle: OpaquePointer

    /// `arguments` are `-name value` pairs over pocketsphinx's defaults.
    init(_ arguments: [(String, String)]) throws(RecognizerError) {
        // argv[0] is skipped by the parser, like a program name.
        let words = ["attune"] + arguments.flatMap { [$0.0, $0.1] }
        var argv: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) }
        defer { for p in argv { free(p) } }
        handle = try withPocketSphinx { logged throws(RecognizerError) in
            guard let config = cmd_ln_parse_r(nil, ps_args(), Int32(words.count), &argv, 1) else {
                throw RecognizerError("cmd_ln_parse_r: \(logged("pocketsphinx refused its settings"))", exitCode: 74)
            }
            return config
        }
    }

    deinit { cmd_ln_free_r(handle) }
}

/// A pocketsphinx decoder (`ps_decoder_t`): one `final class` per handle, freed in `deinit`. Not thread-safe: one
/// thread at a time uses it.
final class PocketSphinxDecoder {
    let handle: OpaquePointer
    /// Kept alive for the decoder's life: `ps_init` takes its own reference, but the settings are ours.
    let config: PocketSphinxConfig
    private let logmath: OpaquePointer

    init(_ config: PocketSphinxConfig, model: RecognizerModel) throws(RecognizerError) {
        let ps = try withPocketSphinx { logged throws(RecognizerError) in
            guard let ps = ps_init(config.handle) else {
                throw RecognizerError("ps_init: \(model.directory): \(logged("pocketsphinx could not load the model"))", exitCode: 74)
            }
            return ps
        }
        handle = ps
        self.config = config
        logmath = ps_get_logmath(ps)
    }

    deinit { ps_free(handle) }

    /// Decodes one whole utterance of 16-bit samples and returns its words, frame times relative to its start.
    /// Whole-utterance decoding lets the front end normalise the cepstra over the utterance (feat.params'
    /// `-cmn batch`), which a block-by-block feed cannot.
    func decode(_ samples: UnsafeBufferPointer<Int16>) throws(RecognizerError) -> [(word: String, first: Int, last: Int, confidence: Double)] {
        guard ps_start_utt(handle) >= 0 else { throw failure("ps_start_utt") }
        guard ps_process_raw(handle, samples.baseAddress, samples.count, 0, 1) >= 0 else {
            _ = ps_end_utt(handle)
            throw failure("ps_process_raw")
        }
        guard ps_end_utt(handle) >= 0 else { throw failure("ps_end_utt") }
        var score: Int32 = 0
        guard ps_get_hyp(handle, &score) != nil else { return [] }
        var words: [(String, Int, Int, Double)] = []
        var seg = ps_seg_iter(handle)
        while let s = seg {
            var first: Int32 = 0, last: Int32 = 0
            ps_seg_frames(s, &first, &last)
            var acoustic: Int32 = 0, language: Int32 = 0, backoff: Int32 = 0
            let posterior = ps_seg_prob(s, &acoustic, &language, &backoff)
            if let w = ps_seg_word(s) {
                words.append((String(cString: w), Int(first), Int(last), min(1, max(0, logmath_exp(logmath, posterior)))))
            }
            seg = ps_seg_next(s)
        }
        return words
    }

    private func failure(_ call: String) -> RecognizerError {
        RecognizerError("\(call) failed (pocketsphinx's log is off; the model may be damaged)", exitCode: 74)
    }
}
