// swift-tools-version: 6.0
import PackageDescription

// Dependencies point one way (see design.md): C bridges → AttuneDSP → AttuneAudio → AttuneEngine → executables.
// AttuneEvents (record types and their NDJSON codec) knows nothing of DSP.
let package = Package(
    name: "Attune",
    products: [
        .executable(name: "attune", targets: ["attune"]),
        .library(name: "AttuneEngine", targets: ["AttuneEngine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .systemLibrary(name: "CFFTW3", pkgConfig: "fftw3f", providers: [.apt(["libfftw3-dev"])]),
        .systemLibrary(name: "CSndFile", pkgConfig: "sndfile", providers: [.apt(["libsndfile1-dev"])]),
        .systemLibrary(name: "CALSA", pkgConfig: "alsa", providers: [.apt(["libasound2-dev"])]),
        .systemLibrary(name: "CSampleRate", pkgConfig: "samplerate", providers: [.apt(["libsamplerate0-dev"])]),
        .systemLibrary(name: "CSoxr", pkgConfig: "soxr", providers: [.apt(["libsoxr-dev"])]),

        .target(name: "AttuneDSP", dependencies: ["CFFTW3"]),
        .target(name: "AttuneAudio", dependencies: ["AttuneDSP", "CSndFile", "CSampleRate", "CSoxr", "CALSA"]),
        .target(name: "AttuneText"),
        .target(name: "AttuneEvents"),
        .target(name: "AttuneEngine", dependencies: ["AttuneDSP", "AttuneAudio", "AttuneText", "AttuneEvents"]),
        .executableTarget(
            name: "attune",
            dependencies: ["AttuneEngine", "AttuneText", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),

        // Counts malloc calls on the calling thread only, so tests can prove the per-frame path allocates nothing.
        .target(name: "CAllocCounter", path: "Tests/CAllocCounter"),
        .target(name: "AttuneTestSupport", path: "Tests/AttuneTestSupport"),
        .testTarget(name: "AttuneDSPTests", dependencies: ["AttuneDSP", "CAllocCounter"]),
        .testTarget(name: "AttuneAudioTests", dependencies: ["AttuneAudio", "CAllocCounter", "AttuneTestSupport"]),
        .testTarget(name: "AttuneTextTests", dependencies: ["AttuneText"]),
        .testTarget(name: "AttuneEngineTests", dependencies: ["AttuneEngine", "AttuneEvents", "CAllocCounter"]),
        .testTarget(name: "AttuneCLITests", dependencies: ["AttuneEvents", "AttuneTestSupport"]),
    ]
)
