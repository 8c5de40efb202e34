// swift-tools-version: 6.0
import PackageDescription

// Dependencies point one way (see design.md): C bridges and kernels → AttuneDSP → AttuneAudio → AttuneEngine → executables.
// AttuneEvents (record types and their NDJSON codec) knows nothing of DSP; AttuneBus (the daemon's Unix sockets, on
// swift-nio) knows AttuneEvents' records and AttuneText's utterances, and nothing of DSP, audio or the engine.
let package = Package(
    name: "Attune",
    products: [
        .executable(name: "attune", targets: ["attune"]),
        .executable(name: "attuned", targets: ["attuned"]),
        .library(name: "AttuneEngine", targets: ["AttuneEngine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
    ],
    targets: [
        .systemLibrary(name: "CFFTW3", pkgConfig: "fftw3f", providers: [.apt(["libfftw3-dev"])]),
        .systemLibrary(name: "CSndFile", pkgConfig: "sndfile", providers: [.apt(["libsndfile1-dev"])]),
        .systemLibrary(name: "CALSA", pkgConfig: "alsa", providers: [.apt(["libasound2-dev"])]),
        .systemLibrary(name: "CSoxr", pkgConfig: "soxr", providers: [.apt(["libsoxr-dev"])]),
        .systemLibrary(name: "CPocketSphinx", pkgConfig: "pocketsphinx", providers: [.apt(["libpocketsphinx-dev", "pocketsphinx-en-us"])]),
        .systemLibrary(name: "CNats", pkgConfig: "libnats", providers: [.apt(["libnats-dev"])]),

        // The DSP path's inner loops in C, each built for the x86-64 baseline and for AVX2 and picked by the CPU at
        // run time (Swift has no per-function target attribute; see include/AttuneKernels.h).
        .target(name: "CAttuneKernels"),
        .target(name: "AttuneDSP", dependencies: ["CFFTW3", "CAttuneKernels"]),
        .target(name: "AttuneAudio", dependencies: ["AttuneDSP", "CSndFile", "CSoxr", "CALSA"]),
        // The lexicons are data files read at start-up (Bundle.module), so they can be reviewed and edited as text.
        .target(name: "AttuneText", resources: [.copy("Lexicons")]),
        .target(name: "AttuneEvents"),
        .target(name: "AttuneFusion", dependencies: ["AttuneDSP", "AttuneText", "AttuneEvents"]),
        // The built-in recogniser (pocketsphinx, English): its own thread, fed from a CallSession tap.
        .target(name: "AttuneRecognizer", dependencies: ["CPocketSphinx", "AttuneText", "AttuneAudio"]),
        .target(
            name: "AttuneBus",
            dependencies: [
                "AttuneEvents",
                "AttuneText",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The optional fleet link (design.md "Fleet"): NATS JetStream through libnats, beside the Unix socket.
        .target(
            name: "AttuneFleet",
            dependencies: [
                "CNats", "AttuneBus", "AttuneEvents",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "AttuneEngine", dependencies: ["AttuneDSP", "AttuneAudio", "AttuneText", "AttuneEvents", "AttuneFusion", "AttuneRecognizer", "CAttuneKernels"]),
        // Draws a call's records as an SVG timeline; knows records and transcripts, nothing of DSP or the engine.
        .target(name: "AttuneReport", dependencies: ["AttuneEvents", "AttuneText"]),
        .executableTarget(
            name: "attune",
            // AttuneBus for its JSON codec, run-directory default and filter vocabulary (the same ones the daemon
            // uses); the CLI's sockets are plain blocking Glibc ones, so NIO is linked but never started.
            dependencies: ["AttuneEngine", "AttuneText", "AttuneBus", "AttuneRecognizer", "AttuneReport", "AttuneFleet", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),

        .executableTarget(
            name: "attuned",
            dependencies: [
                "AttuneEngine", "AttuneBus", "AttuneEvents", "AttuneAudio", "AttuneText", "AttuneRecognizer", "AttuneFleet", "CALSA",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),

        // Counts malloc calls on the calling thread only, so tests can prove the per-frame path allocates nothing.
        .target(name: "CAllocCounter", path: "Tests/CAllocCounter"),
        .target(name: "AttuneTestSupport", dependencies: ["CAllocCounter"], path: "Tests/AttuneTestSupport"),
        .testTarget(name: "AttuneDSPTests", dependencies: ["AttuneDSP", "CAttuneKernels", "CAllocCounter"]),
        // Captures from a source URI in a process of its own, so ALSA tests can set ALSA_CONFIG_PATH for it.
        .executableTarget(name: "attune-capture-probe", dependencies: ["AttuneAudio", "CAllocCounter"], path: "Tests/CaptureProbe"),
        .testTarget(name: "AttuneAudioTests", dependencies: ["AttuneAudio", "CAllocCounter", "AttuneTestSupport"]),
        .testTarget(name: "AttuneFusionTests", dependencies: ["AttuneFusion", "AttuneDSP", "AttuneEvents", "AttuneText"]),
        .testTarget(name: "AttuneEventsTests", dependencies: ["AttuneEvents"]),
        .testTarget(name: "AttuneTextTests", dependencies: ["AttuneText", "AttuneTestSupport"]),
        .testTarget(name: "AttuneRecognizerTests", dependencies: ["AttuneRecognizer", "AttuneAudio", "AttuneText", "AttuneTestSupport"]),
        .testTarget(name: "AttuneEngineTests", dependencies: ["AttuneEngine", "AttuneEvents", "CAllocCounter", "AttuneTestSupport"]),
        .testTarget(name: "AttuneReportTests", dependencies: ["AttuneReport", "AttuneEvents", "AttuneText", "AttuneTestSupport"]),
        .testTarget(name: "AttuneCLITests", dependencies: ["AttuneEvents", "AttuneBus", "AttuneText", "AttuneTestSupport"]),
        // Runs the real `attuned` (and `attune`) as subprocesses and talks to it through its sockets like any client.
        // The fleet tests run a real nats-server too, and read the stream through AttuneFleet like any consumer would;
        // they are in this target so that they take turns with the other daemon tests on a 2-core machine.
        .testTarget(name: "AttunedTests", dependencies: ["AttuneEvents", "AttuneBus", "AttuneFleet", "AttuneTestSupport"]),
        .testTarget(
            name: "AttuneBusTests",
            dependencies: [
                "AttuneBus", "AttuneEvents", "AttuneText", "AttuneTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
    ]
)
