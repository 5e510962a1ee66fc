// Element access to a CPU tensor's memory, in logical (row-major) order whatever its strides.
using System.Collections;
using static TorchSharp.torch;

namespace TorchSharp.Utils
{
    /// <summary>Reads and writes the elements of a CPU tensor.</summary>
    public sealed unsafe class TensorAccessor<T> : IDisposable, IEnumerable<T> where T : unmanaged
    {
        private Tensor? tensor;

        internal TensorAccessor(Tensor tensor)
        {
            if (tensor.device_type != DeviceType.CPU) throw new InvalidOperationException("Reading data from non-CPU memory is not supported. Move or copy the tensor to the cpu before reading.");
            this.tensor = tensor;
        }

        private Tensor Source => tensor ?? throw new ObjectDisposedException(nameof(TensorAccessor<T>));

        /// <summary>The number of elements.</summary>
        public long Count => tensor is not null ? tensor.numel() : 0;

        /// <summary>Whether writes are refused (never).</summary>
        public bool IsReadOnly => false;

        private long Offset(long linear, long[] shape, long[] strides)
        {
            long offset = 0;
            for (int d = shape.Length - 1; d >= 0; d--) {
                var i = linear % shape[d];
                linear /= shape[d];
                offset += i * strides[d];
            }
            return offset;
        }

        /// <summary>Copies the elements into a new array, in row-major order.</summary>
        public T[] ToArray()
        {
            var t = Source;
            var result = new T[t.numel()];
            CopyTo(result);
            return result;
        }

        /// <summary>
        /// The element at the given indices (one per dimension), or, reading, at one linear (row-major) index.
        /// Like TorchSharp 0.105.1: indices are never negative, and writing takes one index per dimension even
        /// when a single index is given (so a single index writes only into 0-d and 1-d tensors).
        /// </summary>
        public T this[params long[] indices] {
            get => *(T*)Address(indices, linear: indices.Length == 1);
            set => *(T*)Address(indices, linear: false) = value;
        }

        private byte* Address(long[] indices, bool linear)
        {
            var t = Source;
            var shape = t.shape;
            var strides = t.stride();
            long offset;
            if (linear) {
                var n = t.numel();
                if (indices[0] >= n) throw new IndexOutOfRangeException();
                if (indices[0] < 0) throw new ArgumentOutOfRangeException(nameof(indices), $"{indices[0]} in a collection of {n} elements.");
                offset = Offset(indices[0], shape, strides);
            } else {
                if (indices.Length < shape.Length) throw new IndexOutOfRangeException($"Expected {shape.Length} indices, got {indices.Length}.");
                offset = 0;
                for (int d = 0; d < shape.Length; d++) {
                    var i = indices[d];
                    if (i < 0 || i >= shape[d]) throw new IndexOutOfRangeException($"{i} >= {shape[d]} in dimension {d}.");
                    offset += i * strides[d];
                }
            }
            return (byte*)t.DataPointer() + offset * sizeof(T);
        }

        /// <summary>Copies elements, starting at <paramref name="tensorIndex"/>, into <paramref name="array"/>.</summary>
        public void CopyTo(T[] array, int arrayIndex = 0, long tensorIndex = 0) => CopyTo(array.AsSpan(), arrayIndex, tensorIndex);

        /// <summary>Copies elements, starting at <paramref name="tensorIndex"/>, into <paramref name="array"/>.</summary>
        public void CopyTo(Span<T> array, int arrayIndex = 0, long tensorIndex = 0)
        {
            var t = Source;
            long n = Math.Min(t.numel() - tensorIndex, array.Length - arrayIndex);
            if (n <= 0) return;
            var basePtr = (T*)t.DataPointer();
            if (t.is_contiguous()) {
                new ReadOnlySpan<T>(basePtr + tensorIndex, (int)n).CopyTo(array.Slice(arrayIndex));
                return;
            }
            var shape = t.shape;
            var strides = t.stride();
            for (long i = 0; i < n; i++) array[arrayIndex + (int)i] = basePtr[Offset(tensorIndex + i, shape, strides)];
        }

        /// <summary>Copies elements from <paramref name="array"/> into the tensor, starting at <paramref name="tensorIndex"/>.</summary>
        public void CopyFrom(T[] array, int arrayIndex = 0, long tensorIndex = 0) => CopyFrom((ReadOnlySpan<T>)array, arrayIndex, tensorIndex);

        /// <summary>Copies elements from <paramref name="array"/> into the tensor, starting at <paramref name="tensorIndex"/>.</summary>
        public void CopyFrom(ReadOnlySpan<T> array, int arrayIndex = 0, long tensorIndex = 0)
        {
            var t = Source;
            long n = Math.Min(t.numel() - tensorIndex, array.Length - arrayIndex);
            var basePtr = (T*)t.DataPointer();
            var shape = t.shape;
            var strides = t.stride();
            for (long i = 0; i < n; i++) basePtr[Offset(tensorIndex + i, shape, strides)] = array[arrayIndex + (int)i];
        }

        /// <summary>Enumerates the elements in row-major order.</summary>
        public IEnumerator<T> GetEnumerator() => ((IEnumerable<T>)ToArray()).GetEnumerator();

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

        /// <summary>Releases the accessor.</summary>
        public void Dispose() => tensor = null;
    }
}
