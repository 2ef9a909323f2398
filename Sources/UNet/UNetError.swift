import CDNNL

/// A failure of the network engine: a bad shape, a missing parameter, or a oneDNN call that
/// refused. The description is one line.
public struct UNetError: Error, CustomStringConvertible, Sendable {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// Turns a oneDNN status into a thrown `UNetError` naming the call that failed.
@inline(__always)
func check(_ status: dnnl_status_t, _ what: @autoclosure () -> String) throws {
    if status != dnnl_success {
        let reason = dnnl_status2str(status).map { String(cString: $0) } ?? "status \(status.rawValue)"
        throw UNetError("oneDNN \(what()) failed: \(reason)")
    }
}
