// torch.*: tensor factories, joins, global state (seed, grad mode, threads) and linalg.
using System.Runtime.InteropServices;
using TorchSharp.PInvoke;

namespace TorchSharp
{
    /// <summary>The root of the TorchSharp API, mirroring PyTorch's <c>torch</c> module.</summary>
    public static partial class torch
    {
        // ---- factories ---------------------------------------------------------------------
        private static Tensor Finish(Tensor t, bool requires_grad)
        {
            if (requires_grad) t.requires_grad = true;
            return t;
        }

        private static Arg Dtype(ScalarType? dtype) => ((ScalarType?)dtype).HasValue ? (Arg)dtype : Arg.None;

        public static Tensor zeros(long[] size, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) =>
            Finish(Aten.T("aten::zeros", "", size, Dtype(dtype).Named("dtype"), ((Arg)device).Named("device")), requires_grad);
        public static Tensor zeros(long size, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) => zeros(new[] { size }, dtype, device, requires_grad);
        public static Tensor zeros(long rows, long columns, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) => zeros(new[] { rows, columns }, dtype, device, requires_grad);
        public static Tensor zeros(long dim0, long dim1, long dim2, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) => zeros(new[] { dim0, dim1, dim2 }, dtype, device, requires_grad);
        public static Tensor zeros(long dim0, long dim1, long dim2, long dim3, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) => zeros(new[] { dim0, dim1, dim2, dim3 }, dtype, device, requires_grad);

        public static Tensor ones(long[] size, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) =>
            Finish(Aten.T("aten::ones", "", size, Dtype(dtype).Named("dtype"), ((Arg)device).Named("device")), requires_grad);
        public static Tensor ones(long size, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) => ones(new[] { size }, dtype, device, requires_grad);
        public static Tensor ones(long rows, long columns, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) => ones(new[] { rows, columns }, dtype, device, requires_grad);
        public static Tensor ones(long dim0, long dim1, long dim2, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) => ones(new[] { dim0, dim1, dim2 }, dtype, device, requires_grad);

        public static Tensor empty(long[] size, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) =>
            Finish(Aten.T("aten::empty", "memory_format", size, Dtype(dtype).Named("dtype"), ((Arg)device).Named("device")), requires_grad);
        public static Tensor empty(long size, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) => empty(new[] { size }, dtype, device, requires_grad);
        public static Tensor empty(long rows, long columns, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) => empty(new[] { rows, columns }, dtype, device, requires_grad);

        public static Tensor full(long[] size, Scalar value, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) =>
            Finish(Aten.T("aten::full", "", size, value, Dtype(dtype ?? (value.Type == ScalarType.Bool ? ScalarType.Bool : null)).Named("dtype"), ((Arg)device).Named("device")), requires_grad);
        public static Tensor full(long size, Scalar value, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) => full(new[] { size }, value, dtype, device, requires_grad);
        public static Tensor full(long rows, long columns, Scalar value, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) => full(new[] { rows, columns }, value, dtype, device, requires_grad);

        public static Tensor randn(long[] size, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) =>
            Finish(Aten.T("aten::randn", "", size, Dtype(dtype).Named("dtype"), ((Arg)device).Named("device")), requires_grad);
        public static Tensor randn(long size, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) => randn(new[] { size }, dtype, device, requires_grad);
        public static Tensor randn(long rows, long columns, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) => randn(new[] { rows, columns }, dtype, device, requires_grad);
        public static Tensor randn(long dim0, long dim1, long dim2, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) => randn(new[] { dim0, dim1, dim2 }, dtype, device, requires_grad);
        public static Tensor randn(long dim0, long dim1, long dim2, long dim3, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) => randn(new[] { dim0, dim1, dim2, dim3 }, dtype, device, requires_grad);

        public static Tensor rand(long[] size, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) =>
            Finish(Aten.T("aten::rand", "", size, Dtype(dtype).Named("dtype"), ((Arg)device).Named("device")), requires_grad);
        public static Tensor rand(long size, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) => rand(new[] { size }, dtype, device, requires_grad);
        public static Tensor rand(long rows, long columns, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) => rand(new[] { rows, columns }, dtype, device, requires_grad);

        public static Tensor randint(long low, long high, long[] size, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) =>
            Finish(Aten.T("aten::randint", "low", low, high, size, ((Arg)(dtype ?? ScalarType.Int64)).Named("dtype"), ((Arg)device).Named("device")), requires_grad);
        public static Tensor randint(long high, long[] size, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) => randint(0, high, size, dtype, device, requires_grad);

        public static Tensor randperm(long n, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) =>
            Finish(Aten.T("aten::randperm", "", n, ((Arg)(dtype ?? ScalarType.Int64)).Named("dtype"), ((Arg)device).Named("device")), requires_grad);

        public static Tensor arange(Scalar start, Scalar stop, Scalar step, ScalarType? dtype = null, Device? device = null, bool requires_grad = false)
        {
            // Like TorchSharp: integer arguments give int64, any floating argument the default float type.
            dtype ??= start.IsFloatingPoint || stop.IsFloatingPoint || step.IsFloatingPoint ? ScalarType.Float32 : ScalarType.Int64;
            return Finish(Aten.T("aten::arange", "start_step", start, stop, step, Dtype(dtype).Named("dtype"), ((Arg)device).Named("device")), requires_grad);
        }
        public static Tensor arange(Scalar start, Scalar stop, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) => arange(start, stop, 1, dtype, device, requires_grad);
        public static Tensor arange(Scalar stop, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) => arange(0, stop, 1, dtype, device, requires_grad);

        public static Tensor eye(long rows, long columns = -1L, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) =>
            Finish(Aten.T("aten::eye", "m", rows, columns < 0 ? rows : columns, Dtype(dtype).Named("dtype"), ((Arg)device).Named("device")), requires_grad);

        public static Tensor zeros_like(Tensor input, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) =>
            Finish(Aten.T("aten::zeros_like", "", input, Dtype(dtype).Named("dtype"), ((Arg)device).Named("device")), requires_grad);
        public static Tensor ones_like(Tensor input, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) =>
            Finish(Aten.T("aten::ones_like", "", input, Dtype(dtype).Named("dtype"), ((Arg)device).Named("device")), requires_grad);
        public static Tensor empty_like(Tensor input, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) =>
            Finish(Aten.T("aten::empty_like", "", input, Dtype(dtype).Named("dtype"), ((Arg)device).Named("device")), requires_grad);
        public static Tensor randn_like(Tensor input, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) =>
            Finish(Aten.T("aten::randn_like", "", input, Dtype(dtype).Named("dtype"), ((Arg)device).Named("device")), requires_grad);
        public static Tensor full_like(Tensor input, Scalar value, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) =>
            Finish(Aten.T("aten::full_like", "", input, value, Dtype(dtype).Named("dtype"), ((Arg)device).Named("device")), requires_grad);

        // ---- tensors from .NET arrays --------------------------------------------------------
        private static unsafe Tensor FromArray<T>(T[] data, ReadOnlySpan<long> dims, ScalarType natural, ScalarType? dtype, Device? device, bool requires_grad) where T : unmanaged
        {
            long count = 1;
            foreach (var d in dims) count *= d;
            if (count != data.Length) throw new ArgumentException($"The shape [{string.Join(", ", dims.ToArray())}] holds {count} elements, but the array has {data.Length}.");
            var shape = dims.ToArray();
            IntPtr h;
            fixed (T* p = data)
            fixed (long* s = shape)
                h = NativeMethods.vf_tensor_from_data(p, s, shape.Length, (int)natural, 0);
            var t = new Tensor(h);
            if ((dtype.HasValue && dtype.Value != natural) || (device is not null && device.type != DeviceType.CPU)) {
                using var raw = t;
                t = raw.to(dtype ?? natural, device ?? CPU);
            }
            return Finish(t, requires_grad);
        }

        public static Tensor tensor(float[] rawArray, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) => FromArray(rawArray, new long[] { rawArray.Length }, ScalarType.Float32, dtype, device, requires_grad);
        public static Tensor tensor(float[] rawArray, ReadOnlySpan<long> dimensions, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) => FromArray(rawArray, dimensions, ScalarType.Float32, dtype, device, requires_grad);
        public static Tensor tensor(double[] rawArray, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) => FromArray(rawArray, new long[] { rawArray.Length }, ScalarType.Float64, dtype, device, requires_grad);
        public static Tensor tensor(double[] rawArray, ReadOnlySpan<long> dimensions, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) => FromArray(rawArray, dimensions, ScalarType.Float64, dtype, device, requires_grad);
        public static Tensor tensor(long[] dataArray, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) => FromArray(dataArray, new long[] { dataArray.Length }, ScalarType.Int64, dtype, device, requires_grad);
        public static Tensor tensor(long[] dataArray, ReadOnlySpan<long> dimensions, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) => FromArray(dataArray, dimensions, ScalarType.Int64, dtype, device, requires_grad);
        public static Tensor tensor(int[] rawArray, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) => FromArray(rawArray, new long[] { rawArray.Length }, ScalarType.Int32, dtype, device, requires_grad);
        public static Tensor tensor(int[] rawArray, ReadOnlySpan<long> dimensions, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) => FromArray(rawArray, dimensions, ScalarType.Int32, dtype, device, requires_grad);
        public static Tensor tensor(bool[] rawArray, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) => FromArray(rawArray, new long[] { rawArray.Length }, ScalarType.Bool, dtype, device, requires_grad);
        public static Tensor tensor(bool[] rawArray, ReadOnlySpan<long> dimensions, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) => FromArray(rawArray, dimensions, ScalarType.Bool, dtype, device, requires_grad);
        public static Tensor tensor(byte[] rawArray, ReadOnlySpan<long> dimensions, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) => FromArray(rawArray, dimensions, ScalarType.Byte, dtype, device, requires_grad);
        public static Tensor tensor(Half[] rawArray, ReadOnlySpan<long> dimensions, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) => FromArray(rawArray, dimensions, ScalarType.Float16, dtype, device, requires_grad);
        public static Tensor tensor(float scalar, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) => FromArray(new[] { scalar }, ReadOnlySpan<long>.Empty, ScalarType.Float32, dtype, device, requires_grad);
        public static Tensor tensor(double scalar, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) => FromArray(new[] { scalar }, ReadOnlySpan<long>.Empty, ScalarType.Float64, dtype, device, requires_grad);
        public static Tensor tensor(long scalar, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) => FromArray(new[] { scalar }, ReadOnlySpan<long>.Empty, ScalarType.Int64, dtype, device, requires_grad);

        // ---- joins and element-wise functions -------------------------------------------------
        public static Tensor cat(IList<Tensor> tensors, long dim = 0) => Aten.T("aten::cat", "", tensors.ToArray(), dim);
        public static Tensor concat(IList<Tensor> tensors, long dim = 0) => cat(tensors, dim);
        public static Tensor stack(IEnumerable<Tensor> tensors, long dim = 0) => Aten.T("aten::stack", "", tensors.ToArray(), dim);
        public static Tensor where(Tensor condition, Tensor x, Tensor y) => Aten.T("aten::where", "self", condition, x, y);
        public static Tensor matmul(Tensor input, Tensor target) => input.matmul(target);
        public static Tensor mm(Tensor input, Tensor target) => input.mm(target);
        public static Tensor bmm(Tensor input, Tensor batch2) => input.bmm(batch2);
        public static Tensor einsum(string equation, params Tensor[] tensors) => Aten.T("aten::einsum", "", equation, tensors);
        public static Tensor diag(Tensor input, long diagonal = 0) => input.diag(diagonal);
        public static Tensor outer(Tensor input, Tensor vec2) => input.outer(vec2);
        public static Tensor abs(Tensor input) => input.abs();
        public static Tensor sqrt(Tensor input) => input.sqrt();
        public static Tensor exp(Tensor input) => input.exp();
        public static Tensor log(Tensor input) => input.log();
        public static Tensor pow(Tensor left, Scalar exponent) => left.pow(exponent);
        public static Tensor pow(Tensor left, Tensor exponent) => left.pow(exponent);
        public static Tensor clamp(Tensor input, Scalar? min = null, Scalar? max = null) => input.clamp(min, max);
        public static Tensor maximum(Tensor input, Tensor other) => input.maximum(other);
        public static Tensor minimum(Tensor input, Tensor other) => input.minimum(other);
        public static Tensor sum(Tensor input, ScalarType? type = null) => input.sum(type);
        public static Tensor mean(Tensor input) => input.mean();
        public static Tensor max(Tensor input) => input.max();
        public static Tensor min(Tensor input) => input.min();
        public static Tensor argmax(Tensor input) => input.argmax();
        public static Tensor argmax(Tensor input, long dim, bool keepdim = false) => input.argmax(dim, keepdim);
        public static Tensor isfinite(Tensor tensor) => tensor.isfinite();
        public static Tensor tanh(Tensor input) => input.tanh();
        public static Tensor sigmoid(Tensor input) => input.sigmoid();
        public static bool allclose(Tensor tensor, Tensor target, double rtol = 1e-05, double atol = 1e-08, bool equal_nan = false) => tensor.allclose(target, rtol, atol, equal_nan);
        public static Tensor equal(Tensor tensor, Tensor target) => tensor.equal(target);
        public static Tensor eq(Tensor left, Tensor right) => left.eq(right);
        public static (Tensor values, Tensor indices) topk(Tensor tensor, int k, int dim = -1, bool largest = true, bool sorted = true) => tensor.topk(k, dim, largest, sorted);

        // ---- global state ----------------------------------------------------------------
        /// <summary>Seeds libtorch's default random generator.</summary>
        public static Generator manual_seed(long seed)
        {
            NativeMethods.vf_manual_seed(seed);
            NativeMethods.CheckForErrors();
            return Generator.Default;
        }

        /// <summary>Sets the number of threads libtorch uses for intra-op parallelism.</summary>
        public static void set_num_threads(int num) { NativeMethods.vf_set_num_threads(num); NativeMethods.CheckForErrors(); }

        /// <summary>The number of threads libtorch uses for intra-op parallelism.</summary>
        public static int get_num_threads() => NativeMethods.vf_get_num_threads();

        /// <summary>The number of threads libtorch uses for inter-op parallelism.</summary>
        public static int get_num_interop_threads() => NativeMethods.vf_get_num_interop_threads();

        /// <summary>Disables gradient recording until disposed.</summary>
        public static IDisposable no_grad() => new AutoGradMode(false);

        /// <summary>Enables (or disables) gradient recording until disposed.</summary>
        public static IDisposable enable_grad(bool enabled = true) => new AutoGradMode(enabled);

        /// <summary>Sets gradient recording until disposed.</summary>
        public static IDisposable set_grad_enabled(bool mode = true) => new AutoGradMode(mode);

        /// <summary>Whether gradients are recorded on this thread.</summary>
        public static bool is_grad_enabled() => NativeMethods.vf_grad_enabled() != 0;

        /// <summary>A random number generator (only the default CPU generator in this binding).</summary>
        public class Generator : IDisposable
        {
            internal static readonly Generator Default = new();

            private Generator() { }

            /// <summary>Releases the generator.</summary>
            public void Dispose() { }
        }

        // ---- linear algebra --------------------------------------------------------------
        /// <summary>torch.linalg.</summary>
        public static class linalg
        {
            /// <summary>Singular value decomposition: (U, S, Vh) with A = U·diag(S)·Vh, singular values descending.</summary>
            public static (Tensor U, Tensor S, Tensor Vh) svd(Tensor input, bool fullMatrices = true) => Aten.T3("aten::linalg_svd", "", input, fullMatrices);

            /// <summary>The numerical rank of a matrix.</summary>
            public static Tensor matrix_rank(Tensor input, double? atol = null, double? rtol = null, bool hermitian = false) =>
                Aten.T("aten::linalg_matrix_rank", "atol_rtol_float", input, ((Arg)atol).Named("atol"), ((Arg)rtol).Named("rtol"), ((Arg)hermitian).Named("hermitian"));

            /// <summary>Vector or matrix norm.</summary>
            public static Tensor vector_norm(Tensor input, double ord = 2d, long[]? dims = null, bool keepdim = false) => Aten.T("aten::linalg_vector_norm", "", input, ord, dims, keepdim);
        }
    }

    /// <summary>Sets the thread's grad mode and restores the previous one when disposed.</summary>
    internal sealed class AutoGradMode : IDisposable
    {
        private readonly bool previous;
        private bool disposed;

        public AutoGradMode(bool enabled)
        {
            previous = NativeMethods.vf_grad_enabled() != 0;
            NativeMethods.vf_set_grad_enabled(enabled ? 1 : 0);
        }

        public void Dispose()
        {
            if (disposed) return;
            disposed = true;
            NativeMethods.vf_set_grad_enabled(previous ? 1 : 0);
        }
    }
}
