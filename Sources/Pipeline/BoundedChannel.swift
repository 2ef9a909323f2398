import Foundation

/// A first-in first-out hand-over between threads that holds at most `capacity` items.
///
/// `send` blocks while the channel is full, so a fast stage waits for a slow one instead of
/// filling memory; `receive` blocks while it is empty. `close()` says nothing more will be sent
/// (receivers still get what is queued); `cancel()` drops what is queued and wakes everyone, so
/// both ends stop at once.
final class BoundedChannel<Item: Sendable>: @unchecked Sendable {
    // @unchecked: every mutable field below is read and written only while `condition` is locked.
    private let condition = NSCondition()
    // At most `capacity` long, so removing from the front costs nothing worth a ring buffer.
    private var items: [Item] = []
    private let capacity: Int
    private var closed = false
    private var cancelled = false

    init(capacity: Int) {
        self.capacity = max(capacity, 1)
    }

    /// Queues an item, waiting for room; false (and the item dropped) once the channel is
    /// closed or cancelled.
    @discardableResult
    func send(_ item: Item) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while !cancelled && !closed && items.count >= capacity { condition.wait() }
        guard !cancelled && !closed else { return false }
        items.append(item)
        condition.broadcast()
        return true
    }

    /// The oldest item, waiting for one; nil once the channel is closed and empty, or cancelled.
    func receive() -> Item? {
        condition.lock()
        defer { condition.unlock() }
        while !cancelled && !closed && items.isEmpty { condition.wait() }
        return takeLocked()
    }

    /// The oldest item if one is queued, without waiting.
    func poll() -> Item? {
        condition.lock()
        defer { condition.unlock() }
        return takeLocked()
    }

    private func takeLocked() -> Item? {
        guard !cancelled, !items.isEmpty else { return nil }
        condition.broadcast()
        return items.removeFirst()
    }

    /// No more items will be sent; receivers drain what is queued, then get nil.
    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    /// Drops the queued items and makes every `send` and `receive`, waiting or later, return at once.
    func cancel() {
        condition.lock()
        cancelled = true
        items.removeAll()
        condition.broadcast()
        condition.unlock()
    }
}
