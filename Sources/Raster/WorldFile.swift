import Foundation

/// The ESRI world file beside an image (`scene.png` → `scene.pgw`), which lets GIS software place
/// a PNG on the map.
public enum WorldFile {
    /// The world file's path for an image: the extension's first and last letters plus "w"
    /// (`.png` → `.pgw`, `.tif` → `.tfw`), or `.wld` when the image has no usable extension.
    public static func path(forImage imagePath: String) -> String {
        let url = URL(fileURLWithPath: imagePath)
        let ext = url.pathExtension
        let base = url.deletingPathExtension().path
        guard let first = ext.first, let last = ext.last, ext.count >= 2 else { return base + ".wld" }
        return base + "." + String(first) + String(last) + "w"
    }

    /// Writes the world file of `geoReference` beside `imagePath`, replacing any old one atomically.
    @discardableResult
    public static func write(_ geoReference: GeoReference, forImage imagePath: String) throws -> String {
        let worldPath = path(forImage: imagePath)
        guard let text = geoReference.worldFileText else {
            throw RasterError(path: worldPath, reason: "the source is not georeferenced, so there is no world file to write")
        }
        // Not Foundation's atomic write: its temporary name (.dat.nosync…) cannot be traced to
        // its writer, so a killed run's would stay for ever.
        try AtomicFile.write(Data(text.utf8), to: worldPath)
        return worldPath
    }
}
