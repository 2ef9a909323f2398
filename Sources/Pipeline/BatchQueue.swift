import Foundation

/// Background producers feeding the trainer through a bounded, ordered queue.
///
/// Producer threads claim batch numbers in turn and build them; the consumer takes them strictly
/// in order. A producer never runs more than `capacity` batches ahead of the consumer, so a slow
/// trainer applies back-pressure instead of filling memory. The time the consumer spends waiting
/// is recorded, to show whether loading keeps up.
public final class BatchQueue<Item: Sendable>: @unchecked Sendable {
    // @unchecked: every mutable field below is read and written only while `condition` is locked.
    private let condition = NSCondition()
    private var ready: [Int: Result<Item, any Error>] = [:]
    private var nextToClaim: Int
    private var nextToTake: Int
    private let end: Int
    private let capacity: Int
    private var stopped = false
    private var runningProducers = 0
    private var waited: Double = 0

    /// Seconds the consumer has spent waiting for batches.
    public var waitingSeconds: Double {
        condition.lock()
        defer { condition.unlock() }
        return waited
    }

    /// Produces items `first..<end` with `producers` threads, each with its own `readers()`;
    /// `make` must be safe to call from any thread.
    public init(first: Int, end: Int, capacity: Int, producers: Int,
                readers: @escaping @Sendable () -> ReaderCache = { ReaderCache() },
                make: @escaping @Sendable (Int, ReaderCache) throws -> Item) {
        nextToClaim = first
        nextToTake = first
        self.end = end
        self.capacity = max(capacity, 1)
        runningProducers = max(producers, 1)
        for n in 0..<max(producers, 1) {
            let thread = Thread { [self] in
                let readers = readers()
                while let index = self.claim() {
                    let result = Result { try make(index, readers) }
                    self.deliver(index, result)
                }
                self.producerFinished()
            }
            thread.name = "segpipe-loader-\(n)"
            thread.start()
        }
    }

    private func claim() -> Int? {
        condition.lock()
        defer { condition.unlock() }
        while !stopped && nextToClaim < end && nextToClaim >= nextToTake + capacity { condition.wait() }
        guard !stopped, nextToClaim < end else { return nil }
        nextToClaim += 1
        return nextToClaim - 1
    }

    private func deliver(_ index: Int, _ result: Result<Item, any Error>) {
        condition.lock()
        ready[index] = result
        condition.broadcast()
        condition.unlock()
    }

    private func producerFinished() {
        condition.lock()
        runningProducers -= 1
        condition.broadcast()
        condition.unlock()
    }

    /// The next item in order, waiting for it if need be; nil once every item was taken.
    public func next() throws -> Item? {
        condition.lock()
        defer { condition.unlock() }
        guard nextToTake < end, !stopped else { return nil }
        let started = Date()
        while ready[nextToTake] == nil && !stopped { condition.wait() }
        waited += Date().timeIntervalSince(started)
        guard let result = ready.removeValue(forKey: nextToTake) else { return nil }
        nextToTake += 1
        condition.broadcast()
        return try result.get()
    }

    /// Stops the producers and waits for them to finish their current item.
    public func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        while runningProducers > 0 { condition.wait() }
        ready.removeAll()
        condition.unlock()
    }

    deinit {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }
}
