import Foundation
import Raster
import Testing
import UNet
@testable import Pipeline

/// A small random model (2 bands in, 3 classes, depth 2) saved with identity normalisation.
func writeSmallModel(_ path: String, tileSize: Int, symmetric: Bool = false) throws -> UNetModel {
    let config = UNetConfig(nClasses: 3, nChannels: 2, tileSize: tileSize, nFiltersStart: 4, growthFactor: 2,
                            depth: 2, upsampling: .transpose, dropout: 0)
    let model = try UNetModel(config: config, seed: 11)
    var parameters = model.parameters()
    var generator = SplitMix64(seed: 5)
    for (name, shape) in config.parameterShapes {
        guard var tensor = parameters[name] else { continue }
        if name.hasSuffix("bias") || name.hasSuffix("beta") || name.hasSuffix("moving_mean") {
            tensor.values = tensor.values.map { _ in Float(generator.uniform(-0.1, 0.1)) }
        } else if name.hasSuffix("gamma") || name.hasSuffix("moving_variance") {
            tensor.values = tensor.values.map { _ in Float(generator.uniform(0.8, 1.2)) }
        }
        if symmetric && name.hasSuffix("kernel") {
            tensor = symmetrised(tensor, shape: shape)
        }
        parameters[name] = tensor
    }
    try model.setParameters(parameters)
    try ModelFile(model: model, normalization: Normalization.identity(bands: 2).modelNormalization).write(toFile: path)
    return model
}

/// Averages a kernel over the eight symmetries of its spatial square, so the network commutes
/// with flips and rotations.
func symmetrised(_ tensor: HostTensor, shape: [Int]) -> HostTensor {
    let kh = shape[0], kw = shape[1], inner = shape[2] * shape[3]
    guard kh == kw else { return tensor }
    var out = tensor
    for i in 0..<kh {
        for j in 0..<kw {
            let orbit = [(i, j), (j, kw - 1 - i), (kh - 1 - i, kw - 1 - j), (kw - 1 - j, i),
                         (i, kw - 1 - j), (kh - 1 - i, j), (j, i), (kw - 1 - j, kh - 1 - i)]
            for k in 0..<inner {
                let mean = orbit.map { tensor.values[($0.0 * kw + $0.1) * inner + k] }.reduce(0, +) / 8
                out.values[(i * kw + j) * inner + k] = mean
            }
        }
    }
    return out
}

func randomScene(_ path: String, width: Int, height: Int, seed: UInt64 = 3) throws {
    var generator = SplitMix64(seed: seed)
    let smooth = (0..<(2 * width * height)).map { _ in Float(generator.uniform(-1, 1)) }
    try writeScene(path, width: width, height: height) { b, x, y in smooth[(b * height + y) * width + x] }
}

/// A legend's background colour reaches the class maps; a model that stores none gets white,
/// or, where a class is white, a colour no class uses, instead of refusing to predict.
@Test func theBackgroundColourIsTheModelsOrOneNoClassUses() throws {
    let folder = try TemporaryDirectory()
    let model = try writeSmallModel(folder.file("plain.safetensors"), tileSize: 32)
    let normalization = Normalization.identity(bands: 2).modelNormalization
    let white = [ModelClass(name: "snow", red: 255, green: 255, blue: 255), ModelClass(name: "rock", red: 0, green: 0, blue: 0),
                 ModelClass(name: "ice", red: 200, green: 230, blue: 255)]
    try ModelFile(model: model, classes: white, normalization: normalization).write(toFile: folder.file("white.safetensors"))
    try ModelFile(model: model, classes: white, background: ModelClass(name: "none", red: 9, green: 8, blue: 7),
                  normalization: normalization).write(toFile: folder.file("stored.safetensors"))
    func background(_ name: String) throws -> ClassLegend.Entry? {
        try Predictor(options: PredictionOptions(modelPath: folder.file(name), outputDirectory: folder.file("out"))).legend.entry(id: 0)
    }
    #expect(try background("plain.safetensors")?.color == ClassLegend.Color(255, 255, 255))
    #expect(try background("white.safetensors")?.color == ClassLegend.Color(1, 1, 1))
    #expect(try background("stored.safetensors") == ClassLegend.Entry(id: 0, name: "none", color: ClassLegend.Color(9, 8, 7)))
}

@Test func tiledPredictionEqualsOneWholeImagePass() throws {
    let folder = try TemporaryDirectory()
    let modelPath = folder.file("m.safetensors")
    // The depth-2 network sees about 23 px around each pixel; a 96 px overlap zeroes 24 px at each tile edge.
    let model = try writeSmallModel(modelPath, tileSize: 192)
    let width = 400, height = 300
    try randomScene(folder.file("s.tif"), width: width, height: height)
    var options = PredictionOptions(modelPath: modelPath, outputDirectory: folder.file("out"))
    options.overlap = 96
    options.writeProbabilities = true
    options.batchSize = 3
    _ = try Predictor(options: options).predict(scene: folder.file("s.tif"))

    let tiled = try TIFFReader(path: folder.file("out/s.prob.tif")).readWindow(PixelWindow(x: 0, y: 0, width: width, height: height))
    let scene = try TIFFReader(path: folder.file("s.tif")).readWindow(PixelWindow(x: 0, y: 0, width: width, height: height))
    var nhwc = [Float](repeating: 0, count: width * height * 2)
    for p in 0..<(width * height) { for c in 0..<2 { nhwc[p * 2 + c] = scene.values[c * width * height + p] } }
    let whole = try model.forward(HostTensor(shape: [1, height, width, 2], values: nhwc), training: false)
    var worst: Float = 0
    for y in 32..<(height - 32) {
        for x in 32..<(width - 32) {
            for k in 0..<3 { worst = max(worst, abs(whole.values[(y * width + x) * 3 + k] - tiled[k, y, x])) }
        }
    }
    #expect(worst < 1e-4)
}

@Test func testTimeAugmentationChangesNothingForAnEquivariantModel() throws {
    let folder = try TemporaryDirectory()
    let modelPath = folder.file("m.safetensors")
    _ = try writeSmallModel(modelPath, tileSize: 32, symmetric: true)
    try randomScene(folder.file("s.tif"), width: 70, height: 45)
    var results: [RasterBuffer] = []
    for tta in [false, true] {
        var options = PredictionOptions(modelPath: modelPath, outputDirectory: folder.file(tta ? "tta" : "plain"))
        options.overlap = 16
        options.writeProbabilities = true
        options.testTimeAugmentation = tta
        _ = try Predictor(options: options).predict(scene: folder.file("s.tif"))
        results.append(try TIFFReader(path: folder.file((tta ? "tta" : "plain") + "/s.prob.tif"))
            .readWindow(PixelWindow(x: 0, y: 0, width: 70, height: 45)))
    }
    let worst = zip(results[0].values, results[1].values).map { abs($0 - $1) }.max() ?? 1
    #expect(worst < 1e-5)
}

@Test func predictionWritesClassMapWorldFileAndMarksNodata() throws {
    let folder = try TemporaryDirectory()
    let modelPath = folder.file("m.safetensors")
    _ = try writeSmallModel(modelPath, tileSize: 32)
    let geo = GeoReference(modelPixelScale: [2, 2, 0], modelTiepoint: [0, 0, 0, 1000, 2000, 0],
                           geoKeyDirectory: [1, 1, 0, 1, 1024, 0, 1, 1])
    let writer = try TIFFWriter(path: folder.file("g.tif"), width: 32, height: 32, bands: 2, sampleType: .float32,
                                layout: .stripped(rowsPerStrip: 32), compression: .none, geoReference: geo, nodata: -1)
    var buffer = RasterBuffer(bands: 2, width: 32, height: 32, repeating: 0.5)
    buffer[0, 3, 4] = -1
    try writer.writeRows(buffer)
    try writer.finish()
    var options = PredictionOptions(modelPath: modelPath, outputDirectory: folder.file("out"))
    options.writeProbabilities = true
    let result = try Predictor(options: options).predict(scene: folder.file("g.tif"))
    #expect(result.tiles == 1)
    #expect(result.outputs.map { ($0 as NSString).lastPathComponent } == ["g.png", "g.pgw", "g.prob.tif"])
    // The probabilities mark the same pixel: NaN in every band, declared as the nodata value.
    let probabilities = try TIFFReader(path: folder.file("out/g.prob.tif"))
    #expect(probabilities.info.nodata?.isNaN == true)
    let values = try probabilities.readWindow(PixelWindow(x: 0, y: 0, width: 32, height: 32))
    #expect((0..<3).allSatisfy { values[$0, 3, 4].isNaN })
    #expect(values.values.filter(\.isNaN).count == 3)
    let ids = try PNGMaskReader(path: folder.file("out/g.png"), legend: .generic(classCount: 3)).readRows(32)
    #expect(ids[3 * 32 + 4] == 255)
    #expect(ids.filter { $0 == 255 }.count == 1)
    let world = try String(contentsOfFile: folder.file("out/g.pgw"), encoding: .utf8)
    let lines: [Double?] = world.split(separator: "\n").map { Double($0) }
    let expected: [Double?] = [2, 0, 0, -2, 1001, 1999]
    #expect(lines == expected)
}

/// Georeferences without an affine map (ground control points, the RPC coefficients of an
/// unrectified satellite scene) give no world file, but reach the probability TIFF unchanged.
@Test(arguments: ["ground control points", "RPC coefficients"])
func georeferencesWithoutAnAffineMapReachTheProbabilityTIFF(kind: String) throws {
    let folder = try TemporaryDirectory()
    let modelPath = folder.file("m.safetensors")
    _ = try writeSmallModel(modelPath, tileSize: 32)
    let geo = kind == "RPC coefficients"
        ? GeoReference(rpcCoefficients: (0..<92).map { 0.5 + Double($0) * 1.25e-3 })
        : GeoReference(modelTiepoint: [0, 0, 0, 1000, 2000, 0, 31, 0, 0, 1062, 2003, 0, 0, 31, 0, 997, 1938, 0],
                       geoKeyDirectory: [1, 1, 0, 1, 1024, 0, 1, 1], geoAsciiParams: "WGS 84|")
    try writeScene(folder.file("gcp.tif"), width: 32, height: 32) { _, x, y in Float(x * y) }
    let source = try TIFFReader(path: folder.file("gcp.tif")).readWindow(PixelWindow(x: 0, y: 0, width: 32, height: 32))
    let writer = try TIFFWriter(path: folder.file("gcp.tif"), width: 32, height: 32, bands: 2, sampleType: .float32,
                                layout: .stripped(rowsPerStrip: 32), compression: .none, geoReference: geo)
    try writer.writeRows(source)
    try writer.finish()
    var options = PredictionOptions(modelPath: modelPath, outputDirectory: folder.file("out"))
    options.writeProbabilities = true
    let result = try Predictor(options: options).predict(scene: folder.file("gcp.tif"))
    #expect(result.outputs.map { ($0 as NSString).lastPathComponent } == ["gcp.png", "gcp.prob.tif"])
    #expect(try TIFFReader(path: folder.file("out/gcp.prob.tif")).geoReference == geo)
}

@Test func aBadSceneIsNamed() throws {
    let folder = try TemporaryDirectory()
    let modelPath = folder.file("m.safetensors")
    _ = try writeSmallModel(modelPath, tileSize: 32)
    try writeScene(folder.file("three.tif"), width: 40, height: 40, bands: 3) { _, _, _ in 0 }
    try Data("not a tiff".utf8).write(to: URL(fileURLWithPath: folder.file("junk.tif")))
    let predictor = try Predictor(options: PredictionOptions(modelPath: modelPath, outputDirectory: folder.file("out")))
    #expect(throws: PipelineError(path: folder.file("three.tif"), reason: "has 3 bands but the model takes 2")) {
        try predictor.predict(scene: folder.file("three.tif"))
    }
    do {
        _ = try predictor.predict(scene: folder.file("junk.tif"))
        Issue.record("a junk file was predicted")
    } catch {
        #expect("\(error)".hasPrefix(folder.file("junk.tif")))
    }
}

/// An infinite sample is a missing pixel, as NaN is: 255 in the class map, NaN in the declared-
/// nodata probabilities, and no effect on its neighbours (it used to spread NaN through every
/// tile it reached, painted as background).
@Test func infiniteSamplesAreNodataAndDoNotSpread() throws {
    let folder = try TemporaryDirectory()
    let modelPath = folder.file("m.safetensors")
    _ = try writeSmallModel(modelPath, tileSize: 32)
    var generator = SplitMix64(seed: 9)
    let noise = (0..<(2 * 40 * 40)).map { _ in Float(generator.uniform(-1, 1)) }
    for (name, special) in [("inf", Float.infinity), ("minus", -Float.infinity), ("nan", Float.nan)] {
        try writeScene(folder.file("\(name).tif"), width: 40, height: 40) { b, x, y in
            (x == 5 && y == 6 && b == 1) || (x == 30 && y == 20 && b == 0) ? special : noise[(b * 40 + y) * 40 + x]
        }
    }
    var options = PredictionOptions(modelPath: modelPath, outputDirectory: folder.file("out"))
    options.writeProbabilities = true
    options.overlap = 16
    let predictor = try Predictor(options: options)
    var maps: [[UInt8]] = []
    for name in ["inf", "minus", "nan"] {
        _ = try predictor.predict(scene: folder.file("\(name).tif"))
        let ids = try PNGMaskReader(path: folder.file("out/\(name).png"), legend: .generic(classCount: 3)).readRows(40)
        #expect(ids[6 * 40 + 5] == 255 && ids[20 * 40 + 30] == 255, "\(name)")
        #expect(ids.filter { $0 == 255 }.count == 2, "\(name)")
        let probabilities = try TIFFReader(path: folder.file("out/\(name).prob.tif"))
        #expect(probabilities.info.nodata?.isNaN == true, "\(name)")
        let values = try probabilities.readWindow(PixelWindow(x: 0, y: 0, width: 40, height: 40))
        #expect(values.values.filter(\.isNaN).count == 2 * 3, "\(name)")
        maps.append(ids)
    }
    #expect(maps[0] == maps[2] && maps[1] == maps[2])
}

/// An overlap too large to double is explained like any other: `2 * overlap` trapped.
@Test func aHugeOverlapIsExplainedNotATrap() {
    #expect(Predictor.overlapProblem(1 << 62, tileSize: 160, depth: 5)?.hasPrefix("--overlap 4611686018427387904 must be at most half") == true)
    #expect(Predictor.overlapProblem(64, tileSize: 160, depth: 5) == nil)
}

/// A scene wider than a class map can be is named before its rows are read: it used to read
/// gigabytes and then blame the output PNG.
@Test func aSceneTooWideForAClassMapIsNamedFirst() throws {
    let folder = try TemporaryDirectory()
    let modelPath = folder.file("m.safetensors")
    _ = try writeSmallModel(modelPath, tileSize: 32)
    try writeScene(folder.file("wide.tif"), width: PNGWriter.maximumSide + 1, height: 1) { _, _, _ in 0 }
    let predictor = try Predictor(options: PredictionOptions(modelPath: modelPath, outputDirectory: folder.file("out")))
    let error = #expect(throws: PipelineError.self) { try predictor.predict(scene: folder.file("wide.tif")) }
    #expect(error?.description == "\(folder.file("wide.tif")): is 1000001×1; a class map can be at most 1000000 pixels a side, so cut the scene into parts")
}
