import Foundation

/// The scenes a prediction pipeline has given up on, shared by its threads so the tiler stops
/// reading them and the network stops running them once any stage has failed them.
final class AbandonedScenes: @unchecked Sendable {
    // @unchecked: `scenes` is read and written only while `lock` is held.
    private let lock = NSLock()
    private var scenes: Set<Int> = []

    func insert(_ scene: Int) {
        lock.lock()
        scenes.insert(scene)
        lock.unlock()
    }

    func contains(_ scene: Int) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return scenes.contains(scene)
    }
}
