import Raster
import UNet
public enum SegpipeVersion { public static let string = "0.1.0" }
