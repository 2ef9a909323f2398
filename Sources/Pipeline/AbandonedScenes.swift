import Synchronization

/// The scenes a prediction pipeline has given up on, shared by its threads so the tiler stops
/// reading them and the network stops running them once any stage has failed them.
final class AbandonedScenes: Sendable {
    private let scenes = Mutex<Set<Int>>([])

    func insert(_ scene: Int) {
        scenes.withLock { _ = $0.insert(scene) }
    }

    func contains(_ scene: Int) -> Bool {
        scenes.withLock { $0.contains(scene) }
    }
}
