// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "segpipe",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "segpipe", targets: ["segpipe"]),
        .library(name: "Raster", targets: ["Raster"]),
        .library(name: "Tiling", targets: ["Tiling"]),
        .library(name: "UNet", targets: ["UNet"]),
        .library(name: "Pipeline", targets: ["Pipeline"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        // C shims: system libraries and the few C helpers Swift cannot write.
        .systemLibrary(
            name: "CTIFF",
            pkgConfig: "libtiff-4",
            providers: [.apt(["libtiff-dev"])]
        ),
        .systemLibrary(
            name: "CLibPNG",
            pkgConfig: "libpng",
            providers: [.apt(["libpng-dev"])]
        ),
        .target(
            name: "CPNG",
            dependencies: ["CLibPNG"]
        ),
        .systemLibrary(
            name: "CDNNL",
            providers: [.apt(["libdnnl-dev"])]
        ),
        // Debian's oneDNN runs on GNU OpenMP (libgomp); host loops join the same thread team.
        .target(
            name: "COpenMP",
            linkerSettings: [.linkedLibrary("gomp")]
        ),

        // The Winograd convolutions' matrix products: AVX2 intrinsics, compiled for AVX2 function by function.
        .target(name: "CPanelProduct"),

        .target(
            name: "Raster",
            dependencies: ["CTIFF", "CPNG", .product(name: "Yams", package: "Yams")]
        ),
        .target(
            name: "Tiling",
            dependencies: ["Raster"]
        ),
        .target(
            name: "UNet",
            dependencies: ["CDNNL", "COpenMP", "CPanelProduct"]
        ),
        .target(
            name: "Pipeline",
            dependencies: [
                "Raster", "Tiling", "UNet",
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .executableTarget(
            name: "segpipe",
            dependencies: [
                "Pipeline",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        .testTarget(name: "RasterTests", dependencies: ["Raster", "CTIFF", "CPNG"]),
        .testTarget(name: "TilingTests", dependencies: ["Tiling", "Raster"]),
        .testTarget(name: "UNetTests", dependencies: ["UNet"], resources: [.copy("Fixtures")]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "Raster"]),
    ],
    swiftLanguageModes: [.v6]
)
