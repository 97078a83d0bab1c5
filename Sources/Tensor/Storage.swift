// Aligned float storage with a small recycling pool.
//
// Activations of a VQ decoder are tens of megabytes each and are created and dropped at every layer. Fresh
// allocations of that size come from mmap and are page-faulted (zeroed by the kernel) on first touch, which costs
// about as much as one pass over the data. Recycling freed buffers of the same size avoids that.
import Foundation

/// Reference-counted, 64-byte aligned buffer of `Float`s. Tensors share it; kernels write only into fresh storage.
public final class TensorStorage: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    /// Number of floats allocated (physical size, including any block padding).
    public let capacity: Int

    /// Uninitialised storage of `capacity` floats (possibly recycled: contents are arbitrary).
    public init(uninitialized capacity: Int) {
        self.capacity = capacity
        self.pointer = BufferPool.shared.take(capacity)
    }

    /// Zero-filled storage.
    public convenience init(zeros capacity: Int) {
        self.init(uninitialized: capacity)
        pointer.initialize(repeating: 0, count: capacity)
    }

    deinit { BufferPool.shared.give(pointer, capacity) }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: capacity) }
}

/// Size-keyed free lists of aligned buffers, bounded in total bytes.
final class BufferPool: @unchecked Sendable {
    static let shared = BufferPool()
    private var free: [Int: [UnsafeMutablePointer<Float>]] = [:]
    private var cachedBytes = 0
    private let lock = NSLock()
    /// Buffers smaller than this are not worth pooling (malloc's own bins handle them well).
    private let minPooledFloats = 1 << 14
    var limitBytes = 1 << 30

    func take(_ count: Int) -> UnsafeMutablePointer<Float> {
        let n = max(count, 1)
        if n >= minPooledFloats {
            lock.lock()
            if var list = free[n], let p = list.popLast() {
                free[n] = list.isEmpty ? nil : list
                cachedBytes -= n * 4
                lock.unlock()
                return p
            }
            lock.unlock()
        }
        // 64-byte alignment: a full AVX-512 register / cache line, what oneDNN prefers.
        let raw = UnsafeMutableRawPointer.allocate(byteCount: n * MemoryLayout<Float>.stride, alignment: 64)
        return raw.bindMemory(to: Float.self, capacity: n)
    }

    func give(_ p: UnsafeMutablePointer<Float>, _ count: Int) {
        let n = max(count, 1)
        if n >= minPooledFloats {
            lock.lock()
            if cachedBytes + n * 4 <= limitBytes {
                free[n, default: []].append(p)
                cachedBytes += n * 4
                lock.unlock()
                return
            }
            lock.unlock()
        }
        UnsafeMutableRawPointer(p).deallocate()
    }

    func drain() {
        lock.lock()
        let lists = free
        free = [:]
        cachedBytes = 0
        lock.unlock()
        for (_, list) in lists { for p in list { UnsafeMutableRawPointer(p).deallocate() } }
    }
}

/// Releases recycled activation buffers (for long-running hosts between models).
public func releaseCachedBuffers() { BufferPool.shared.drain() }
