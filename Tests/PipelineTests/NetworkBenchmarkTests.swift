import Foundation
import Testing
import UNet
@testable import Pipeline

@Suite struct NetworkBenchmarkTests {
    private func tinyBenchmark(_ mode: NetworkBenchmark.Mode) -> NetworkBenchmark {
        var benchmark = NetworkBenchmark(mode: mode, batchSize: 2, upsampling: .nearest, steps: 1, warmUpSteps: 1)
        benchmark.config = UNetConfig(nClasses: 2, nChannels: 3, tileSize: 16, nFiltersStart: 2, depth: 2,
                                      upsampling: .nearest, dropout: 0.25, classWeights: [0.5, 0.5])
        return benchmark
    }

    @Test(arguments: NetworkBenchmark.Mode.allCases, [UNet.ConvolutionAlgorithm.direct, .winograd])
    func reportsConsistentFigures(mode: NetworkBenchmark.Mode, convolution: UNet.ConvolutionAlgorithm) throws {
        var benchmark = tinyBenchmark(mode)
        benchmark.convolution = convolution
        let result = try benchmark.run()
        #expect(result.mode == mode && result.batchSize == 2 && result.precision == "f32")
        #expect(result.upsampling == .nearest && result.steps == 1 && result.stepSeconds.count == 1)
        let seconds = result.stepSeconds[0]
        #expect(seconds > 0)
        #expect(abs(result.tilesPerSecondMedian - 2 / seconds) <= 1e-9 * result.tilesPerSecondMedian)
        #expect(result.tilesPerSecondBest == result.tilesPerSecondMedian)
        let passes = mode == .train ? 3.0 : 1.0
        let gflops = benchmark.config.forwardFLOPsPerTile * 2 * passes / seconds / 1e9
        #expect(abs(result.gflopsMedian - gflops) <= 1e-9 * gflops)
        #expect((result.peakResidentBytes ?? 0) > 1_000_000)
        #expect(result.convolution == convolution.rawValue)
        #expect(result.summary.contains("\(mode.rawValue), batch 2, f32, \(convolution.rawValue) convolutions, nearest upsampling"))
    }

    @Test func encodesTheKeysOfBenchJSON() throws {
        let result = try tinyBenchmark(.predict).run()
        let json = try JSONEncoder().encode(result)
        let object = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
        for key in ["mode", "batchSize", "precision", "convolution", "upsampling", "tilesPerSecondMedian", "tilesPerSecondBest", "gflopsMedian"] {
            #expect(object[key] != nil, "missing \(key)")
        }
        #expect(object["mode"] as? String == "predict")
        #expect(try JSONDecoder().decode(NetworkBenchmarkResult.self, from: json) == result)
    }

    @Test func refusesImpossibleOptions() {
        var benchmark = tinyBenchmark(.train)
        benchmark.steps = 0
        #expect(throws: NetworkBenchmark.InvalidOption.self) { try benchmark.run() }
        benchmark.steps = 1
        benchmark.batchSize = 0
        #expect(throws: NetworkBenchmark.InvalidOption.self) { try benchmark.run() }
    }

    @Test func readsThePeakResidentMemory() throws {
        #if os(Linux)
        let bytes = try #require(ProcessMemory.peakResidentBytes())
        #expect(bytes > 1_000_000 && bytes < 1 << 40)
        #endif
    }
}
