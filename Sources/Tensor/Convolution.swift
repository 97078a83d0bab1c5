// 2-d convolution and transposed convolution through oneDNN.
//
// The weights are handed over once, in PyTorch's layout, and reordered on first use into whatever blocked layout
// oneDNN's chosen implementation prefers (format tag `any`); the reordered copy replaces the plain one. One
// primitive is created per input shape and layout and cached. Activations come out in the layout the primitive
// prefers (nChw16c for AVX-512), so consecutive convolutions need no reorders in between.
//
// A batch runs image by image through primitives made for one image. oneDNN chooses its blocking, and Winograd
// its tiling, from the whole problem, so a primitive for N images may round differently from one for a single
// image; planning for one image makes every image's result the same bits whatever batch it came in (cli.md:
// results do not depend on --batch-size), and bounds the scratchpads and layout copies to one image's.
import CDNNL
import Foundation

/// Zero padding on each side, as oneDNN and `torch.nn.functional.pad` express it (asymmetric allowed).
public struct Padding2D: Hashable, Sendable {
    public var top: Int, left: Int, bottom: Int, right: Int
    public init(top: Int, left: Int, bottom: Int, right: Int) {
        self.top = top; self.left = left; self.bottom = bottom; self.right = right
    }
    /// The same padding on all four sides (PyTorch's `padding=p`).
    public init(_ p: Int) { self.init(top: p, left: p, bottom: p, right: p) }
    /// PyTorch's `padding=(ph, pw)`.
    public init(_ ph: Int, _ pw: Int) { self.init(top: ph, left: pw, bottom: ph, right: pw) }
    public static let zero = Padding2D(0)
}

/// A convolution (or transposed convolution) with fixed weights, runnable on any input size.
public final class ConvolutionKernel: @unchecked Sendable {
    public enum Kind: Sendable { case convolution, transposed }

    public let kind: Kind
    public let inChannels: Int
    public let outChannels: Int
    public let kernelSize: (h: Int, w: Int)
    public let stride: (h: Int, w: Int)
    /// For a transposed convolution this is PyTorch's `padding` with `output_padding` already taken off the
    /// bottom/right (oneDNN's convention: a negative amount there extends the output).
    public let padding: Padding2D

    private let bias: TensorStorage?
    private struct WeightVariant { let md: dnnl_memory_desc_t; let storage: TensorStorage }
    private var variants: [WeightVariant]
    private var plans: [PlanKey: Plan] = [:]
    private let lock = NSLock()
    private var weightsRoundedToBFloat16 = false

    private struct PlanKey: Hashable {
        let h: Int, w: Int
        let src: TensorLayout
        let sum: Bool
        let precision: Precision
    }

    private final class Plan {
        let primitive: DNNLPrimitive
        let srcMD: dnnl_memory_desc_t
        /// The input layout the primitive wants when it is one of ours (converted by our own kernels, which are
        /// much cheaper than a oneDNN reorder for these small activations); otherwise `srcReorder` does it.
        let srcLayout: TensorLayout?
        let srcReorder: DNNLPrimitive?
        let inputMD: dnnl_memory_desc_t
        let dstMD: dnnl_memory_desc_t
        let outShape: [Int]
        let outLayout: TensorLayout
        let dstReorder: DNNLPrimitive?
        /// With `dstReorder`: the residual (given in `outLayout`) into the primitive's destination layout.
        let residualReorder: DNNLPrimitive?
        let weights: WeightVariant
        /// oneDNN's gemm fallback: made for one thread, run on one (`runsOnOneThread`).
        let oneThread: Bool
        init(primitive: DNNLPrimitive, srcMD: dnnl_memory_desc_t, srcLayout: TensorLayout?, srcReorder: DNNLPrimitive?,
             inputMD: dnnl_memory_desc_t, dstMD: dnnl_memory_desc_t, outShape: [Int], outLayout: TensorLayout,
             dstReorder: DNNLPrimitive?, residualReorder: DNNLPrimitive?, weights: WeightVariant) {
            self.primitive = primitive; oneThread = ConvolutionKernel.runsOnOneThread(primitive.implementation)
            self.srcMD = srcMD; self.srcLayout = srcLayout; self.srcReorder = srcReorder
            self.inputMD = inputMD
            self.dstMD = dstMD; self.outShape = outShape; self.outLayout = outLayout; self.dstReorder = dstReorder
            self.residualReorder = residualReorder
            self.weights = weights
        }
    }

    /// - Parameters:
    ///   - weight: PyTorch layout, C order: `[out, in, kH, kW]` for a convolution, `[in, out, kH, kW]` for a
    ///     transposed one.
    ///   - bias: `[out]` or nil.
    ///   - outputPadding: transposed only (PyTorch's `output_padding`).
    ///   - execution: algorithm, precision and limits this kernel computes with (fixed for its life).
    public init(kind: Kind = .convolution, weight: [Float], shape: [Int], bias: [Float]?, stride: (Int, Int) = (1, 1),
                padding: Padding2D = .zero, outputPadding: (Int, Int) = (0, 0),
                execution: ExecutionConfig = .default) throws {
        guard shape.count == 4, shape.allSatisfy({ $0 > 0 }), weight.count == shape.reduce(1, *) else {
            throw TensorError.shapeMismatch("convolution weight \(shape) with \(weight.count) values")
        }
        guard stride.0 > 0, stride.1 > 0, padding.top >= 0, padding.left >= 0, padding.bottom >= 0, padding.right >= 0
        else { throw TensorError.invalidArgument("convolution stride \(stride) / padding \(padding)") }
        self.kind = kind
        self.execution = execution
        if kind == .convolution {
            outChannels = shape[0]; inChannels = shape[1]
            self.padding = padding
        } else {
            inChannels = shape[0]; outChannels = shape[1]
            guard outputPadding.0 >= 0, outputPadding.1 >= 0,
                  outputPadding.0 < Swift.max(stride.0, 1), outputPadding.1 < Swift.max(stride.1, 1) else {
                throw TensorError.invalidArgument("output_padding \(outputPadding) must be smaller than stride \(stride)")
            }
            self.padding = Padding2D(top: padding.top, left: padding.left,
                                     bottom: padding.bottom - outputPadding.0, right: padding.right - outputPadding.1)
        }
        kernelSize = (shape[2], shape[3])
        self.stride = stride
        if let b = bias {
            guard b.count == outChannels else {
                throw TensorError.shapeMismatch("convolution bias has \(b.count) values, expected \(outChannels)")
            }
            let s = TensorStorage(uninitialized: b.count)
            b.withUnsafeBufferPointer { s.pointer.update(from: $0.baseAddress!, count: b.count) }
            self.bias = s
        } else {
            self.bias = nil
        }
        let w = TensorStorage(uninitialized: weight.count)
        weight.withUnsafeBufferPointer { w.pointer.update(from: $0.baseAddress!, count: weight.count) }
        let md = try DNNL.md([outChannels, inChannels, kernelSize.h, kernelSize.w], kind == .convolution ? dnnl_oihw : dnnl_iohw)
        variants = [WeightVariant(md: md, storage: w)]
    }

    /// oneDNN implementations to take when offered (name prefixes), else oneDNN's first choice. oneDNN 2.6 ranks
    /// its brgemm-based convolutions first on AVX-512 machines, but for the shapes of VQ models (3×3 and 1×1 with
    /// 128 to 512 channels in nChw16c, the 3-channel first and last layers, stride 2) its direct jit kernels
    /// measured faster (tools/bench, `--profile`). Where no direct kernel exists (e.g. channels-last tensors)
    /// oneDNN's own ranking stands.
    static let preferredImplementations = ["jit:", "jit_1x1:"]

    /// oneDNN's im2col + gemm fallback (or a reference kernel), taken where no jit kernel accepts the shape: its work
    /// split, decided from the thread count at creation, changes the rounding, so it is made for and run on one thread.
    static func runsOnOneThread(_ implementation: String) -> Bool {
        implementation.contains("gemm") || implementation.hasPrefix("ref")
    }

    /// How 3×3 stride-1 convolutions are computed.
    public enum Algorithm: String, Sendable, CaseIterable {
        /// Direct convolution (what PyTorch's CPU build runs).
        case direct
        /// Winograd (oneDNN's F(4×4, 3×3) or F(2×2, 3×3), as it sees fit) for 3×3 stride-1 convolutions whose
        /// output has at least `winogradMinimumPixels` pixels and that have at most 256→256 channels, direct
        /// elsewhere. About 2× faster on those layers; rounding error
        /// measured at 1-2.7× PyTorch's own float32-vs-float64 error on the model conformance fixtures, within the
        /// faithfulness tolerance (4×), with every code and 8-bit pixel unchanged (Tests/ModelsTests runs both).
        /// Low-resolution layers stay direct, and so do 512-channel ones with oneDNN's kernels (their Winograd
        /// weights are 4× larger); vqrt's own kernel (AVX2 CPUs) takes those too, transforming their kernels on
        /// each call.
        case winograd
    }

    /// Output pixels (per image) from which the Winograd algorithm is used (64×64).
    public static let winogradMinimumPixels = 64 * 64
    /// Whether oneDNN offers a Winograd convolution on this CPU (its Winograd kernels need AVX-512; on an AVX2
    /// machine `.winograd` runs the direct algorithm everywhere). Probed once, without creating a primitive.
    public static let winogradAvailable: Bool = {
        guard var src = try? DNNL.md([1, 16, 64, 64], dnnl_format_tag_any),
              var wmd = try? DNNL.md([16, 16, 3, 3], dnnl_format_tag_any),
              var dst = try? DNNL.md([1, 16, 64, 64], dnnl_format_tag_any),
              let attr = try? DNNL.attr() else { return false }
        defer { dnnl_primitive_attr_destroy(attr) }
        var bmd = dnnl_memory_desc_t(), d = dnnl_convolution_desc_t()
        let one: [Int64] = [1, 1] + Array(repeating: 0, count: 10)   // stride 1, padding 1 on every side
        guard dnnl_convolution_forward_desc_init(&d, dnnl_forward_inference, dnnl_convolution_winograd, &src, &wmd,
                                                 &bmd, &dst, one, one, one) == dnnl_success else { return false }
        let names = (try? withUnsafePointer(to: &d) { try DNNLPrimitive.candidates(opDesc: UnsafeRawPointer($0), attr: attr) }) ?? []
        return names.contains { $0.contains("wino") }
    }()

    /// Algorithm, precision and limits, fixed when the kernel is built.
    public let execution: ExecutionConfig
    /// This kernel's algorithm for 3×3 stride-1 convolutions.
    public var algorithm: Algorithm { execution.convolutionAlgorithm }
    /// This kernel's precision (see Precision.swift). bf16 reads the input converted to bfloat16 (a oneDNN reorder
    /// on each call, rounding to nearest even) and bfloat16 weights (converted once), accumulates in float32 and
    /// writes float32. oneDNN has no bf16 Winograd: bf16 kernels are always direct (jit avx512_core_bf16). Where
    /// oneDNN has no bf16 kernels at all, bf16 is emulated (`Precision.nativeBFloat16`).
    public var precision: Precision { execution.precision }

    /// Whether this kernel would use Winograd on an output of `pixels` per image.
    func usesWinograd(outputPixels pixels: Int) -> Bool {
        winogradShape(outputPixels: pixels) && inChannels * outChannels <= execution.winogradMaximumChannelProduct
    }

    /// Whether this is a convolution Winograd suits (3×3, stride 1, float32, output of at least 64×64), whatever
    /// its channel counts.
    private func winogradShape(outputPixels pixels: Int) -> Bool {
        algorithm == .winograd && precision == .fp32 && kind == .convolution && kernelSize == (3, 3) && stride == (1, 1)
            && pixels >= ConvolutionKernel.winogradMinimumPixels
    }

    private static let implementationsLock = NSLock()
    nonisolated(unsafe) private static var implementations: Set<String> = []

    static func recordImplementation(_ name: String) {
        implementationsLock.lock(); implementations.insert(name); implementationsLock.unlock()
    }

    /// Names of every oneDNN implementation a convolution plan has been made with so far (diagnostics and tests:
    /// e.g. whether Winograd kernels really ran).
    public static var implementationsUsed: Set<String> {
        implementationsLock.lock(); defer { implementationsLock.unlock() }
        return implementations
    }

    /// A convolution geometry a plan was made for (or vqrt's own Winograd kernel first ran on), with the
    /// implementation that computes it.
    public struct PlanRecord: Hashable, Sendable {
        public let implementation: String
        public let transposed: Bool
        public let inChannels: Int
        public let outChannels: Int
        public let kernelHeight: Int
        public let kernelWidth: Int
        public let strideHeight: Int
        public let strideWidth: Int
        public let outputHeight: Int
        public let outputWidth: Int
    }

    nonisolated(unsafe) private static var planRecords: Set<PlanRecord>?

    /// Runs `body` and returns, with its result, every convolution plan made meanwhile (tests: which layers of a
    /// model really ran Winograd). Plans are made on a kernel's first call for each input size, so build the model
    /// inside `body`. Not reentrant.
    public static func recordingPlans<T>(_ body: () throws -> T) rethrows -> (T, Set<PlanRecord>) {
        implementationsLock.lock()
        precondition(planRecords == nil, "recordingPlans is not reentrant")
        planRecords = []
        implementationsLock.unlock()
        defer { implementationsLock.lock(); planRecords = nil; implementationsLock.unlock() }
        let result = try body()
        implementationsLock.lock(); defer { implementationsLock.unlock() }
        return (result, planRecords ?? [])
    }

    private func recordPlan(_ implementation: String, outputHeight: Int, outputWidth: Int) {
        ConvolutionKernel.recordImplementation(implementation)
        ConvolutionKernel.implementationsLock.lock(); defer { ConvolutionKernel.implementationsLock.unlock() }
        ConvolutionKernel.planRecords?.insert(PlanRecord(
            implementation: implementation, transposed: kind == .transposed, inChannels: inChannels,
            outChannels: outChannels, kernelHeight: kernelSize.h, kernelWidth: kernelSize.w, strideHeight: stride.h,
            strideWidth: stride.w, outputHeight: outputHeight, outputWidth: outputWidth))
    }

    /// Output spatial size for an input of `h`×`w` (may be <= 0 for inputs that are too small).
    public func outputSize(h: Int, w: Int) -> (h: Int, w: Int) {
        switch kind {
        case .convolution:
            return ((h + padding.top + padding.bottom - kernelSize.h) / stride.h + 1,
                    (w + padding.left + padding.right - kernelSize.w) / stride.w + 1)
        case .transposed:
            return ((h - 1) * stride.h + kernelSize.h - padding.top - padding.bottom,
                    (w - 1) * stride.w + kernelSize.w - padding.left - padding.right)
        }
    }

    /// Runs the convolution on `x` ([N, in, H, W], plain or nChw16c).
    /// - Parameters:
    ///   - residual: if given, it is added to the result inside the primitive (oneDNN `sum` post-op); its shape must
    ///     be the output shape.
    ///   - layout: the output layout wanted; by default the primitive's preferred one.
    public func callAsFunction(_ x: Tensor, residual: Tensor? = nil, layout: TensorLayout? = nil) throws -> Tensor {
        guard x.rank == 4, x.shape[1] == inChannels else {
            throw TensorError.shapeMismatch("convolution expects [N, \(inChannels), H, W], got \(x.shape)")
        }
        let (oh, ow) = outputSize(h: x.shape[2], w: x.shape[3])
        guard oh > 0, ow > 0, x.shape[0] > 0 else {
            throw TensorError.shapeMismatch("input \(x.shape) is too small for a \(kernelSize) kernel")
        }
        let outShape = [x.shape[0], outChannels, oh, ow]
        if let r = residual, r.shape != outShape {
            throw TensorError.shapeMismatch("residual \(r.shape) does not match convolution output \(outShape)")
        }
        if usesOwnWinograd(outputPixels: oh * ow) {
            return try ownWinograd(x, residual: residual, layout: layout,
                                   flops: 2 * Double(x.shape[0] * oh * ow) * Double(inChannels * outChannels * 9))
        }
        // The primitive always picks its own output layout (forcing one can select a much slower kernel); a
        // requested layout is produced afterwards by our conversion kernels. It is made for one image and runs
        // once per image (see the file comment).
        let key = PlanKey(h: x.shape[2], w: x.shape[3], src: x.layout, sum: residual != nil, precision: precision)
        let plan = try self.plan(key, inputShape: [1] + x.shape.dropFirst(), outShape: [1] + outShape.dropFirst())
        let imageIn = [1] + Array(x.shape.dropFirst()), imageOut = [1] + Array(outShape.dropFirst())

        // A layout of ours that the primitive wants: converted whole by our kernels (much cheaper than a oneDNN
        // reorder for these activations); oneDNN reorders run image by image below.
        var source = x
        if let l = plan.srcLayout, l != x.layout {
            source = try Profiler.measure("conv input \(x.layout)->\(l) \(inChannels)ch @\(x.shape[2])x\(x.shape[3])") {
                try x.to(l)
            }
        }
        let srcStep = Tensor.physicalCount(imageIn, source.layout)
        let srcBuffer = plan.srcReorder.map { _ in TensorStorage(uninitialized: (DNNL.size(plan.srcMD) + 3) / 4) }
        var out = Tensor(uninitialized: outShape, layout: plan.outLayout)
        let outStep = Tensor.physicalCount(imageOut, plan.outLayout)
        let imageOutMD = try DNNL.md(imageOut, DNNL.tag(plan.outLayout, rank: 4))
        let dstBuffer = plan.dstReorder.map { _ in TensorStorage(uninitialized: (DNNL.size(plan.dstMD) + 3) / 4) }
        let residualSource = try residual.map { try $0.to(plan.outLayout) }
        let biasMD = try bias.map { _ in try DNNL.md([outChannels], dnnl_a) }
        // Multiply-adds: every output pixel of a convolution (every input pixel of a transposed one) meets the whole
        // kernel of every input channel.
        let pixels = kind == .convolution ? oh * ow : x.shape[2] * x.shape[3]
        let flops = 2 * Double(pixels) * Double(inChannels * outChannels * kernelSize.h * kernelSize.w)
        let name = "\(kind == .convolution ? "conv" : "conv-transpose")\(key.precision == .bf16 ? " bf16" : "") \(kernelSize.h)x\(kernelSize.w)/\(stride.h) \(inChannels)->\(outChannels) @\(x.shape[2])x\(x.shape[3])"
        for i in 0..<x.shape[0] {
            var src = UnsafeMutableRawPointer(source.pointer + i * srcStep)
            if let re = plan.srcReorder, let buffer = srcBuffer {
                try Profiler.measure("conv input reorder \(x.layout)->\(inChannels)ch @\(x.shape[2])x\(x.shape[3])") {
                    try re.execute([(Int32(DNNL_ARG_FROM), plan.inputMD, src),
                                    (Int32(DNNL_ARG_TO), plan.srcMD, UnsafeMutableRawPointer(buffer.pointer))])
                }
                src = UnsafeMutableRawPointer(buffer.pointer)
            }
            var roundedCopy: TensorStorage? = nil
            defer { withExtendedLifetime(roundedCopy) {} }   // `src` may point into it
            if key.precision.isEmulatedBFloat16 {
                // Round the operand; a copy only if it is still the caller's tensor (kernels never write their inputs).
                let n = DNNL.size(plan.srcMD) / 4, operand = src.assumingMemoryBound(to: Float.self)
                if srcBuffer == nil && source.storage === x.storage {
                    let copy = Profiler.measure("conv input to bf16 values") { bfloat16RoundedCopy(operand, count: n) }
                    roundedCopy = copy
                    src = UnsafeMutableRawPointer(copy.pointer)
                } else {
                    Profiler.measure("conv input to bf16 values") { roundToBFloat16(operand, count: n) }
                }
            }
            let dst = UnsafeMutableRawPointer(dstBuffer?.pointer ?? out.pointer + i * outStep)
            if let r = residualSource {
                // The sum post-op reads the residual from the destination in the primitive's own layout. That is
                // one of ours on AVX-512 machines (nChw16c); elsewhere (AVX2 kernels block by 8 channels) the
                // residual is reordered into it, and the result back out by `dstReorder`.
                let image = UnsafeMutableRawPointer(r.pointer + i * outStep)
                if let re = plan.residualReorder {
                    try Profiler.measure("conv residual reorder \(outChannels)ch") {
                        try re.execute([(Int32(DNNL_ARG_FROM), imageOutMD, image), (Int32(DNNL_ARG_TO), plan.dstMD, dst)])
                    }
                } else {
                    Profiler.measure("conv residual copy") {
                        dst.copyMemory(from: image, byteCount: outStep * MemoryLayout<Float>.stride)
                    }
                }
            }
            try Profiler.measure(name, flops: flops) {
                var args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [
                    (Int32(DNNL_ARG_SRC), plan.srcMD, src),
                    (Int32(DNNL_ARG_WEIGHTS), plan.weights.md, UnsafeMutableRawPointer(plan.weights.storage.pointer)),
                    (Int32(DNNL_ARG_DST), plan.dstMD, dst),
                ]
                if let b = bias, let md = biasMD { args.append((Int32(DNNL_ARG_BIAS), md, UnsafeMutableRawPointer(b.pointer))) }
                if plan.oneThread {
                    try Threading.onOneOpenMPThread { try plan.primitive.executeOnThisThread(args) }
                } else {
                    try plan.primitive.execute(args)
                }
            }
            if key.precision == .bf16, execution.roundsBFloat16Outputs {
                Profiler.measure("rounding to bf16") {
                    roundToBFloat16(dst.assumingMemoryBound(to: Float.self), count: DNNL.size(plan.dstMD) / 4)
                }
            }
            if let re = plan.dstReorder {
                try Profiler.measure("conv output reorder \(outChannels)ch") {
                    try re.execute([(Int32(DNNL_ARG_FROM), plan.dstMD, dst),
                                    (Int32(DNNL_ARG_TO), imageOutMD, UnsafeMutableRawPointer(out.pointer + i * outStep))])
                }
            }
        }
        if let l = layout, l != out.layout {
            out = try Profiler.measure("conv output \(out.layout)->\(l)") { try out.to(l) }
        }
        return out
    }

    /// vqrt's own Winograd F(4×4, 3×3) (Winograd.swift) for the layers that would use Winograd, where oneDNN has
    /// no Winograd kernels (AVX2 CPUs), or everywhere with `ExecutionConfig.ownWinogradEverywhere` (tests).
    /// The name `implementationsUsed` and `implementation(for:)` give vqrt's own Winograd kernel.
    public static let ownWinogradName = "winograd:vqrt_f4x4_3x3"
    private var ownWinogradConvolution: WinogradConvolution?

    /// Once vqrt's own Winograd kernel has run: whether it transforms the kernels on every call (layers above
    /// `winogradMaximumChannelProduct`) rather than holding them transformed; nil before (diagnostics, tests).
    public var ownWinogradTransformsPerCall: Bool? {
        lock.lock(); defer { lock.unlock() }
        return ownWinogradConvolution?.transformedPerCall
    }

    /// Not for layers with fewer than 16 input or output channels (the image's first and last): padded to a whole
    /// 16-channel block they would do more work than the direct kernel (measured 4-6x slower on the 3-channel ones).
    /// Unlike oneDNN's, it has no channel limit: layers above `winogradMaximumChannelProduct` transform their
    /// kernels on each call instead of holding 4x their weights.
    func usesOwnWinograd(outputPixels pixels: Int) -> Bool {
        winogradShape(outputPixels: pixels) && inChannels >= 16 && outChannels >= 16
            && (!ConvolutionKernel.winogradAvailable || execution.ownWinogradEverywhere)
    }

    /// vqrt's own Winograd kernel for this convolution, made (weights transformed) on first use.
    private func ownWinogradKernel(shape: [Int]) throws -> WinogradConvolution {
        lock.lock()
        defer { lock.unlock() }
        if let k = ownWinogradConvolution { return k }
        let (_, plain) = try plainWeights()
        let k = Profiler.measure("winograd weight transform") {
            WinogradConvolution(weight: plain, inChannels: inChannels, outChannels: outChannels,
                                bias: bias.map { UnsafePointer($0.pointer) }, padding: padding,
                                transformPerCall: inChannels * outChannels > execution.winogradMaximumChannelProduct)
        }
        ownWinogradConvolution = k
        let (oh, ow) = outputSize(h: shape[2], w: shape[3])
        recordPlan(ConvolutionKernel.ownWinogradName, outputHeight: oh, outputWidth: ow)
        if execution.tracesConvolutionPlans {
            FileHandle.standardError.write(Data("conv plan \(shape) \(inChannels)->\(outChannels): \(ConvolutionKernel.ownWinogradName)\n".utf8))
        }
        return k
    }

    /// The convolution through vqrt's own Winograd kernel (nChw16c in and out, converted where needed).
    private func ownWinograd(_ x: Tensor, residual: Tensor?, layout: TensorLayout?, flops: Double) throws -> Tensor {
        let kernel = try ownWinogradKernel(shape: x.shape)
        let input = x.layout == .nChw16c ? x : try Profiler.measure("conv input \(x.layout)->nChw16c") { try x.to(.nChw16c) }
        let r = try residual.map { $0.layout == .nChw16c ? $0 : try $0.to(.nChw16c) }
        // Image by image, like the oneDNN path: its tiles are chunked per image, so every image meets the same
        // chunks and matrix products whatever batch it came in.
        var out = try Profiler.measure("conv 3x3/1 \(inChannels)->\(outChannels) @\(x.shape[2])x\(x.shape[3]) winograd", flops: flops) {
            try kernel(input, residual: r)
        }
        if let l = layout, l != out.layout { out = try out.to(l) }
        return out
    }

    /// The weights in PyTorch's layout (descriptor and values): the first variant if it still is that, else
    /// reordered back from it.
    private func plainWeights() throws -> (dnnl_memory_desc_t, TensorStorage) {
        let plainMD = try DNNL.md([outChannels, inChannels, kernelSize.h, kernelSize.w],
                                  kind == .convolution ? dnnl_oihw : dnnl_iohw)
        let from = variants[0]
        if DNNL.equal(from.md, plainMD) { return (plainMD, from.storage) }
        let plain = TensorStorage(zeros: (DNNL.size(plainMD) + 3) / 4)
        try DNNLPrimitive.reorder(from: from.md, to: plainMD).execute(
            [(Int32(DNNL_ARG_FROM), from.md, UnsafeMutableRawPointer(from.storage.pointer)),
             (Int32(DNNL_ARG_TO), plainMD, UnsafeMutableRawPointer(plain.pointer))])
        return (plainMD, plain)
    }

    /// Implementation oneDNN picked for inputs like `x` (e.g. "jit:avx512_core"), for diagnostics.
    public func implementation(for x: Tensor) throws -> String {
        let (oh, ow) = outputSize(h: x.shape[2], w: x.shape[3])
        if usesOwnWinograd(outputPixels: oh * ow) { return ConvolutionKernel.ownWinogradName }
        let key = PlanKey(h: x.shape[2], w: x.shape[3], src: x.layout, sum: false, precision: precision)
        return try plan(key, inputShape: [1] + x.shape.dropFirst(), outShape: [1, outChannels, oh, ow]).primitive.implementation
    }

    /// Every implementation oneDNN offers for inputs like `x`, best first by its ranking (diagnostics).
    public func candidates(for x: Tensor) throws -> [String] {
        let (oh, ow) = outputSize(h: x.shape[2], w: x.shape[3])
        var src = try DNNL.md(x.shape, dnnl_format_tag_any, precision.operandType)
        var wmd = try DNNL.md([outChannels, inChannels, kernelSize.h, kernelSize.w], dnnl_format_tag_any,
                              precision.operandType)
        var bmd = bias == nil ? dnnl_memory_desc_t() : try DNNL.md([outChannels], dnnl_a)
        var dst = try DNNL.md([x.shape[0], outChannels, oh, ow], dnnl_format_tag_any)
        let attr = try DNNL.attr()
        defer { dnnl_primitive_attr_destroy(attr) }
        return try withOpDesc(src: &src, weights: &wmd, bias: &bmd, dst: &dst, shapes: "\(x.shape)") {
            try DNNLPrimitive.candidates(opDesc: $0, attr: attr)
        }
    }

    /// Builds the forward-inference operation descriptor and hands `body` a pointer to it.
    private func withOpDesc<T>(src: inout dnnl_memory_desc_t, weights: inout dnnl_memory_desc_t,
                               bias: inout dnnl_memory_desc_t, dst: inout dnnl_memory_desc_t, shapes: String,
                               winograd: Bool = false,
                               _ body: (UnsafeRawPointer) throws -> T) throws -> T {
        let strides: [Int64] = [Int64(stride.h), Int64(stride.w)] + Array(repeating: 0, count: 10)
        let padL: [Int64] = [Int64(padding.top), Int64(padding.left)] + Array(repeating: 0, count: 10)
        let padR: [Int64] = [Int64(padding.bottom), Int64(padding.right)] + Array(repeating: 0, count: 10)
        switch kind {
        case .convolution:
            var d = dnnl_convolution_desc_t()
            if winograd,
               dnnl_convolution_forward_desc_init(&d, dnnl_forward_inference, dnnl_convolution_winograd,
                                                  &src, &weights, &bias, &dst, strides, padL, padR) == dnnl_success,
               let r = try? withUnsafePointer(to: &d, { try body(UnsafeRawPointer($0)) }) {
                return r
            }
            try DNNL.check(dnnl_convolution_forward_desc_init(&d, dnnl_forward_inference, dnnl_convolution_direct,
                                                              &src, &weights, &bias, &dst, strides, padL, padR),
                           "convolution \(shapes)")
            return try withUnsafePointer(to: &d) { try body(UnsafeRawPointer($0)) }
        case .transposed:
            var d = dnnl_deconvolution_desc_t()
            try DNNL.check(dnnl_deconvolution_forward_desc_init(&d, dnnl_forward_inference, dnnl_deconvolution_direct,
                                                                &src, &weights, &bias, &dst, strides, padL, padR),
                           "transposed convolution \(shapes)")
            return try withUnsafePointer(to: &d) { try body(UnsafeRawPointer($0)) }
        }
    }

    private func plan(_ key: PlanKey, inputShape: [Int], outShape: [Int]) throws -> Plan {
        lock.lock()
        defer { lock.unlock() }
        if let p = plans[key] { return p }
        Threading.applyToOpenMP()   // oneDNN sizes its work split by the thread count at creation
        // bf16: bfloat16 source and weights, float32 bias and destination (accumulation is float32 either way).
        var src = try DNNL.md(inputShape, dnnl_format_tag_any, key.precision.operandType)
        var wmd = try DNNL.md([outChannels, inChannels, kernelSize.h, kernelSize.w], dnnl_format_tag_any,
                              key.precision.operandType)
        var bmd = bias == nil ? dnnl_memory_desc_t() : try DNNL.md([outChannels], dnnl_a)
        var dst = try DNNL.md(outShape, dnnl_format_tag_any)
        let attr = try DNNL.attr(sum: key.sum)
        defer { dnnl_primitive_attr_destroy(attr) }
        let winograd = usesWinograd(outputPixels: outShape[2] * outShape[3])
        // Kernels of the same geometry (a decoder has up to 17 identical 3×3 convolutions) share one primitive:
        // weights, bias and data are arguments of each execution, and making a primitive (choosing among
        // oneDNN's implementations, generating its code) is a good part of the time to the first result.
        let shared = SharedPrimitiveKey(kind: kind == .convolution ? 0 : 1, input: inputShape, output: outShape,
                                        kernel: [kernelSize.h, kernelSize.w, stride.h, stride.w, padding.top,
                                                 padding.left, padding.bottom, padding.right],
                                        bias: bias != nil, sum: key.sum, winograd: winograd,
                                        precision: key.precision, threads: Threading.threads)
        let what = kind == .convolution ? "convolution" : "transposed convolution"
        let prim = try ConvolutionKernel.sharedPrimitive(shared) {
            let p = try withOpDesc(src: &src, weights: &wmd, bias: &bmd, dst: &dst, shapes: "\(inputShape) -> \(outShape)",
                                   winograd: winograd) {
                try DNNLPrimitive(opDesc: $0, attr: attr, what: what, prefer: ConvolutionKernel.preferredImplementations)
            }
            guard ConvolutionKernel.runsOnOneThread(p.implementation) else { return p }
            // No jit kernel takes this shape (e.g. AlexNet's 11x11 stride-4 first layer, LPIPS): made for one
            // thread and run on one, its values do not depend on --threads.
            return try Threading.onOneOpenMPThread {
                try withOpDesc(src: &src, weights: &wmd, bias: &bmd, dst: &dst, shapes: "\(inputShape) -> \(outShape)",
                               winograd: winograd) {
                    try DNNLPrimitive(opDesc: $0, attr: attr, what: what, prefer: ConvolutionKernel.preferredImplementations)
                }
            }
        }
        guard let srcMD = prim.md(dnnl_query_src_md), let dstMD = prim.md(dnnl_query_dst_md),
              let wantW = prim.md(dnnl_query_weights_md) else {
            throw TensorError.dnnl("convolution descriptor lacks memory descriptors")
        }
        let inputMD = try DNNL.md(inputShape, DNNL.tag(key.src, rank: 4))
        let srcLayout = DNNL.layout(of: srcMD, dims: inputShape)
        let srcReorder = DNNL.equal(srcMD, inputMD) || srcLayout != nil ? nil : try DNNLPrimitive.reorder(from: inputMD, to: srcMD)
        var outLayout = TensorLayout.nChw16c
        var dstReorder: DNNLPrimitive? = nil
        if let l = DNNL.layout(of: dstMD, dims: outShape) {
            outLayout = l
        } else {
            dstReorder = try DNNLPrimitive.reorder(from: dstMD, to: try DNNL.md(outShape, DNNL.tag(outLayout, rank: 4)))
        }
        let residualReorder = key.sum && dstReorder != nil
            ? try DNNLPrimitive.reorder(from: try DNNL.md(outShape, DNNL.tag(outLayout, rank: 4)), to: dstMD) : nil
        if key.precision.isEmulatedBFloat16 && !weightsRoundedToBFloat16 {
            // Emulated bf16: the weights become bfloat16 values once (every copy: the kernel's precision is fixed
            // from its first call on).
            for v in variants { roundToBFloat16(v.storage.pointer, count: DNNL.size(v.md) / 4) }
            weightsRoundedToBFloat16 = true
        }
        let weights = try weightVariant(for: wantW)
        recordPlan(prim.implementation, outputHeight: outShape[2], outputWidth: outShape[3])
        if execution.tracesConvolutionPlans {
            let line = "conv plan \(inputShape) \(inChannels)->\(outChannels): \(prim.implementation), scratchpad \(prim.scratchBytes >> 20) MB\n"
            FileHandle.standardError.write(Data(line.utf8))
        }
        let p = Plan(primitive: prim, srcMD: srcMD, srcLayout: srcLayout, srcReorder: srcReorder, inputMD: inputMD, dstMD: dstMD,
                     outShape: outShape, outLayout: outLayout, dstReorder: dstReorder, residualReorder: residualReorder,
                     weights: weights)
        // Inputs of ever new sizes would grow the cache without bound; keep the most recent few dozen.
        if plans.count >= 32 { plans = [:] }
        plans[key] = p
        return p
    }

    private struct SharedPrimitiveKey: Hashable {
        let kind: Int
        let input: [Int], output: [Int], kernel: [Int]
        let bias: Bool, sum: Bool, winograd: Bool
        let precision: Precision
        let threads: Int
    }
    private static let sharedLock = NSLock()
    nonisolated(unsafe) private static var sharedPrimitives: [SharedPrimitiveKey: DNNLPrimitive] = [:]

    /// The primitive for `key`, made by `make` the first time (bounded: a long-running host feeding ever new
    /// sizes starts over rather than growing without end).
    private static func sharedPrimitive(_ key: SharedPrimitiveKey, _ make: () throws -> DNNLPrimitive) throws -> DNNLPrimitive {
        sharedLock.lock()
        defer { sharedLock.unlock() }
        if let p = sharedPrimitives[key] { return p }
        let p = try make()
        if sharedPrimitives.count >= 512 { sharedPrimitives = [:] }
        sharedPrimitives[key] = p
        return p
    }

    /// The weights in layout `md`, reordered (once) from the first variant we hold.
    private func weightVariant(for md: dnnl_memory_desc_t) throws -> WeightVariant {
        if let v = variants.first(where: { DNNL.equal($0.md, md) }) { return v }
        let from = variants[0]
        let storage = TensorStorage(zeros: (DNNL.size(md) + 3) / 4)
        if let re = try? DNNLPrimitive.reorder(from: from.md, to: md) {
            try re.execute([(Int32(DNNL_ARG_FROM), from.md, UnsafeMutableRawPointer(from.storage.pointer)),
                            (Int32(DNNL_ARG_TO), md, UnsafeMutableRawPointer(storage.pointer))])
        } else {
            // oneDNN reorders into Winograd layouts only from plain ones: go back to PyTorch's layout first.
            let (plainMD, plain) = try plainWeights()
            try DNNLPrimitive.reorder(from: plainMD, to: md).execute(
                [(Int32(DNNL_ARG_FROM), plainMD, UnsafeMutableRawPointer(plain.pointer)),
                 (Int32(DNNL_ARG_TO), md, UnsafeMutableRawPointer(storage.pointer))])
        }
        let v = WeightVariant(md: md, storage: storage)
        // The plain PyTorch copy is only a source for reorders: drop it once a real layout exists and no plan uses it,
        // unless that layout is a Winograd one, which oneDNN cannot reorder into anything else (a plan for another
        // batch size may want another layout).
        if variants.count == 1 && md.format_kind != dnnl_format_kind_wino
            && !plans.values.contains(where: { $0.weights.storage === from.storage }) {
            variants = [v]
        } else {
            variants.append(v)
        }
        return v
    }
}
