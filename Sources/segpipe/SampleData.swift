import ArgumentParser
import Pipeline

struct SampleData: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample-data",
        abstract: "Write a deterministic synthetic dataset: 8-band uint16 scenes and palette PNG masks.",
        discussion: """
            Writes DIR/images/sceneN.tif (8 bands, 11-bit values, georeferenced, Deflate) and \
            DIR/masks/sceneN.png (palette PNG with the default legend). The same arguments always \
            give the same bytes.
            """
    )

    @Option(help: ArgumentHelp("Output folder.", valueName: "dir"))
    var out: String

    @Option(parsing: .unconditional, help: "Number of scenes.")
    var scenes = SampleDataset.defaultSceneCount

    @Option(parsing: .unconditional, help: ArgumentHelp("Scene size.", valueName: "WxH"))
    var size = "\(SampleDataset.defaultWidth)x\(SampleDataset.defaultHeight)"

    @Option(parsing: .unconditional, help: "Seed of the generator.")
    var seed: UInt64 = SampleDataset.defaultSeed

    func validate() throws {
        guard scenes >= 1 && scenes <= 10_000 else { throw ValidationError("--scenes must be between 1 and 10000") }
        guard SampleDataset.parseSize(size) != nil else {
            throw ValidationError("--size must be WIDTHxHEIGHT with each side between 16 and 100000 (got '\(size)')")
        }
    }

    func run() throws {
        guard let (width, height) = SampleDataset.parseSize(size) else { throw ExitCode(ExitStatus.usage) }
        let dataset = SampleDataset(sceneCount: scenes, width: width, height: height, seed: seed)
        for written in try dataset.write(to: out) {
            try printProduct(written)
        }
    }
}
