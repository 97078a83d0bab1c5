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

/// Size-keyed free lists of aligned buffers. The pool never makes the process bigger than it has to be: buffers
/// in use plus buffers kept for reuse stay within the most ever in use at once (the footprint a program without a
/// pool would reach anyway), and within `limitBytes`. Without the first bound, buffers of sizes that are not
/// needed again sat in the pool while new ones were allocated, and a batch of 8 peaked ~700 MB higher.
final class BufferPool: @unchecked Sendable {
    static let shared = BufferPool()
    private var free: [Int: [UnsafeMutablePointer<Float>]] = [:]
    private var cachedBytes = 0
    /// Bytes of pooled-size buffers handed out and not yet given back, and the most there ever were.
    private var liveBytes = 0
    private var peakLiveBytes = 0
    private let lock = NSLock()
    /// Buffers smaller than this are not worth pooling (malloc's own bins handle them well).
    private let minPooledFloats = 1 << 14
    let limitBytes = 1 << 30

    func take(_ count: Int) -> UnsafeMutablePointer<Float> {
        let n = max(count, 1)
        if n >= minPooledFloats {
            lock.lock()
            liveBytes += n * 4
            peakLiveBytes = max(peakLiveBytes, liveBytes)
            if var list = free[n], let p = list.popLast() {
                free[n] = list.isEmpty ? nil : list
                cachedBytes -= n * 4
                lock.unlock()
                return p
            }
            // A fresh buffer: first drop kept ones that would take the footprint past its peak.
            var evicted: [UnsafeMutablePointer<Float>] = []
            while liveBytes + cachedBytes > peakLiveBytes, let size = free.keys.max(), var list = free[size],
                  let p = list.popLast() {
                free[size] = list.isEmpty ? nil : list
                cachedBytes -= size * 4
                evicted.append(p)
            }
            lock.unlock()
            for p in evicted { UnsafeMutableRawPointer(p).deallocate() }
        }
        return BufferPool.allocate(n)
    }

    /// The x86-64 transparent huge page; buffers of twice this and more are backed by such pages where allowed.
    static let hugePageBytes = 2 << 20

    /// VQRT_THP=0 turns the huge-page advice off (for a host where compacting memory for huge pages stalls).
    static let usesHugePages = ProcessInfo.processInfo.environment["VQRT_THP"] != "0"

    /// A fresh buffer. 64-byte alignment (a full AVX-512 register / cache line, what oneDNN prefers); large ones
    /// 2 MB-aligned and advised to use transparent huge pages: a fresh 256 MB activation is otherwise 65,536 page
    /// faults (each one a kernel entry and a zeroed 4 KB page) and as many TLB entries for the kernels that sweep
    /// it. Where THP is off (`never`) the advice is ignored; freeing is the same either way.
    static func allocate(_ n: Int) -> UnsafeMutablePointer<Float> {
        let bytes = n * MemoryLayout<Float>.stride
        let huge = bytes >= 2 * hugePageBytes && usesHugePages
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: huge ? hugePageBytes : 64)
        if huge { _ = madvise(raw, bytes / hugePageBytes * hugePageBytes, MADV_HUGEPAGE) }
        return raw.bindMemory(to: Float.self, capacity: n)
    }

    func give(_ p: UnsafeMutablePointer<Float>, _ count: Int) {
        let n = max(count, 1)
        if n >= minPooledFloats {
            lock.lock()
            liveBytes -= n * 4
            if cachedBytes + n * 4 <= limitBytes && liveBytes + cachedBytes + n * 4 <= peakLiveBytes {
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
