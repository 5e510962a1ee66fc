// The tensor handle: lifetime, dispose scopes, metadata, autograd state and element access.
using System.Runtime.InteropServices;
using TorchSharp.PInvoke;

namespace TorchSharp
{
    public static partial class torch
    {
        /// <summary>The element types of tensors (values match libtorch's).</summary>
        public enum ScalarType : sbyte
        {
            Byte = 0,
            Int8 = 1,
            Int16 = 2,
            Int32 = 3,
            Int64 = 4,
            Float16 = 5,
            Float32 = 6,
            Float64 = 7,
            ComplexFloat32 = 9,
            ComplexFloat64 = 10,
            Bool = 11,
            BFloat16 = 15,
        }

        /// <summary>A multi-dimensional array of elements of one type, on one device, with autograd.</summary>
        public partial class Tensor : IDisposable
        {
            internal IntPtr handle;

            internal Tensor(IntPtr handle, bool register = true)
            {
                if (handle == IntPtr.Zero) NativeMethods.CheckForErrors();
                this.handle = handle;
                if (register) OwningDisposeScope = DisposeScopeManager.ThreadSingleton.RegisterOnCurrentDisposeScope(this);
            }

            internal DisposeScope? OwningDisposeScope { get; set; }

            /// <summary>The native handle; throws once the tensor is disposed.</summary>
            public IntPtr Handle {
                get {
                    if (handle == IntPtr.Zero) throw new InvalidOperationException("Tensor invalid -- empty handle.");
                    return handle;
                }
            }

            /// <summary>Whether the tensor has been disposed.</summary>
            public bool IsInvalid => handle == IntPtr.Zero;

            ~Tensor() => Dispose(false);

            /// <summary>Releases the native tensor now instead of waiting for the finalizer.</summary>
            public void Dispose()
            {
                OwningDisposeScope?.MarkAsDisposed(this);
                OwningDisposeScope = null;
                Dispose(true);
                GC.SuppressFinalize(this);
            }

            protected virtual void Dispose(bool disposing)
            {
                if (handle != IntPtr.Zero) {
                    NativeMethods.vf_tensor_free(handle);
                    handle = IntPtr.Zero;
                }
            }

            internal IntPtr MoveHandle()
            {
                var h = Handle;
                handle = IntPtr.Zero;
                GC.SuppressFinalize(this);
                return h;
            }

            /// <summary>Moves the tensor to the dispose scope outside its current one (or out of all scopes).</summary>
            public Tensor MoveToOuterDisposeScope()
            {
                OwningDisposeScope?.MoveToOuter(this);
                return this;
            }

            /// <summary>Takes the tensor out of its dispose scope: it is then disposed only explicitly or by the GC.</summary>
            public Tensor DetachFromDisposeScope()
            {
                OwningDisposeScope?.Detach(this);
                return this;
            }

            /// <summary>Moves the tensor into another dispose scope.</summary>
            public Tensor MoveToOtherDisposeScope(DisposeScope? other)
            {
                if (OwningDisposeScope is null) {
                    other?.Attach(this);
                } else {
                    OwningDisposeScope.MoveToOther(other, this);
                }
                return this;
            }

            /// <summary>Moves the tensor into the dispose scope that owns <paramref name="other"/>.</summary>
            public Tensor MoveToOtherDisposeScope(Tensor other) => MoveToOtherDisposeScope(other.OwningDisposeScope);

            // ---- metadata --------------------------------------------------------------------

            /// <summary>The number of dimensions.</summary>
            public long Dimensions => NativeMethods.vf_tensor_ndim(Handle);

            /// <summary>The number of dimensions.</summary>
            public long dim() => Dimensions;

            /// <summary>The number of dimensions.</summary>
            public long ndim => Dimensions;

            /// <summary>The number of elements.</summary>
            public long NumberOfElements => NativeMethods.vf_tensor_numel(Handle);

            /// <summary>The number of elements.</summary>
            public long numel() => NumberOfElements;

            /// <summary>The size of one element in bytes.</summary>
            public long ElementSize => NativeMethods.vf_tensor_element_size(Handle);

            /// <summary>The size of one element in bytes.</summary>
            public long element_size() => ElementSize;

            /// <summary>The size of each dimension.</summary>
            public unsafe long[] shape {
                get {
                    var h = Handle;
                    var result = new long[NativeMethods.vf_tensor_ndim(h)];
                    fixed (long* p = result) NativeMethods.vf_tensor_shape(h, p);
                    return result;
                }
            }

            /// <summary>The size of each dimension.</summary>
            public long[] size() => shape;

            /// <summary>The size of one dimension (negative counts from the end).</summary>
            public long size(int dim)
            {
                var s = shape;
                var d = dim < 0 ? dim + s.Length : dim;
                if (d < 0 || d >= s.Length) throw new IndexOutOfRangeException($"Dimension out of range (expected to be in range of [{-s.Length}, {s.Length - 1}], but got {dim})");
                return s[d];
            }

            /// <summary>The strides of each dimension, in elements.</summary>
            public unsafe long[] stride()
            {
                var h = Handle;
                var result = new long[NativeMethods.vf_tensor_ndim(h)];
                fixed (long* p = result) NativeMethods.vf_tensor_strides(h, p);
                return result;
            }

            /// <summary>The element type.</summary>
            public ScalarType dtype => (ScalarType)NativeMethods.vf_tensor_dtype(Handle);

            /// <summary>The device type the tensor lives on.</summary>
            public DeviceType device_type => (DeviceType)NativeMethods.vf_tensor_device_type(Handle);

            /// <summary>The device index (-1 for the CPU).</summary>
            public int device_index => NativeMethods.vf_tensor_device_index(Handle);

            /// <summary>The device the tensor lives on.</summary>
            public Device device => new(device_type, device_index);

            /// <summary>Whether the elements are laid out contiguously in row-major order.</summary>
            public bool is_contiguous() => NativeMethods.vf_tensor_is_contiguous(Handle) != 0;

            /// <summary>Whether the tensor lives on a CUDA device.</summary>
            public bool is_cuda => device_type == DeviceType.CUDA;

            // ---- autograd --------------------------------------------------------------------

            /// <summary>Whether autograd records operations on this tensor.</summary>
            public bool requires_grad {
                get => NativeMethods.vf_tensor_requires_grad(Handle) != 0;
                set {
                    NativeMethods.vf_tensor_set_requires_grad(Handle, value ? 1 : 0);
                    NativeMethods.CheckForErrors();
                }
            }

            /// <summary>Sets <see cref="requires_grad"/> in place and returns this tensor.</summary>
            public Tensor requires_grad_(bool requires_grad = true)
            {
                this.requires_grad = requires_grad;
                return this;
            }

            /// <summary>Sets <see cref="requires_grad"/> in place and returns this tensor.</summary>
            public Tensor with_requires_grad(bool requires_grad = true) => requires_grad_(requires_grad);

            /// <summary>Whether the tensor is a leaf of the autograd graph.</summary>
            public bool is_leaf => NativeMethods.vf_tensor_is_leaf(Handle) != 0;

            /// <summary>The accumulated gradient, or null; setting null removes it.</summary>
            public Tensor? grad {
                get {
                    var g = NativeMethods.vf_tensor_grad(Handle);
                    if (g == IntPtr.Zero) {
                        NativeMethods.CheckForErrors();
                        return null;
                    }
                    return new Tensor(g);
                }
                set {
                    NativeMethods.vf_tensor_set_grad(Handle, value?.Handle ?? IntPtr.Zero);
                    NativeMethods.CheckForErrors();
                }
            }

            /// <summary>Computes the gradient of this (scalar) tensor with respect to the graph's leaves.</summary>
            public void backward()
            {
                NativeMethods.vf_tensor_backward(Handle, IntPtr.Zero, -1, 0);
                NativeMethods.CheckForErrors();
            }

            /// <summary>Computes gradients, seeding with <paramref name="grad_tensors"/> for non-scalar outputs.</summary>
            public void backward(IList<Tensor>? grad_tensors = null, bool retain_graph = false, bool create_graph = false, IList<Tensor>? inputs = null)
            {
                if (inputs is not null) throw new NotSupportedException("backward(inputs:) is not supported by the offline binding.");
                var seed = grad_tensors is { Count: > 0 } ? grad_tensors[0].Handle : IntPtr.Zero;
                NativeMethods.vf_tensor_backward(Handle, seed, retain_graph ? 1 : 0, create_graph ? 1 : 0);
                NativeMethods.CheckForErrors();
            }

            /// <summary>A tensor sharing this one's data, cut from the autograd graph.</summary>
            public Tensor detach() => new(NativeMethods.vf_tensor_detach(Handle));

            // ---- elements --------------------------------------------------------------------

            /// <summary>An accessor over the elements (for a CPU tensor, reading and writing its memory).</summary>
            public Utils.TensorAccessor<T> data<T>() where T : unmanaged
            {
                ValidateType(typeof(T));
                return device_type != DeviceType.CPU ? new Utils.TensorAccessor<T>(cpu()) : new Utils.TensorAccessor<T>(this);
            }

            /// <summary>The single value of a one-element tensor.</summary>
            public T item<T>() where T : unmanaged
            {
                if (NumberOfElements != 1) throw new ArgumentException("Number of elements in the tensor must be 1");
                return data<T>()[0];
            }

            internal void ValidateType(Type dotnetType)
            {
                var expected = dtype switch {
                    ScalarType.Byte => typeof(byte),
                    ScalarType.Int8 => typeof(sbyte),
                    ScalarType.Int16 => typeof(short),
                    ScalarType.Int32 => typeof(int),
                    ScalarType.Int64 => typeof(long),
                    ScalarType.Float16 => typeof(Half),
                    ScalarType.Float32 => typeof(float),
                    ScalarType.Float64 => typeof(double),
                    ScalarType.Bool => typeof(bool),
                    ScalarType.ComplexFloat32 => typeof((float, float)),
                    ScalarType.ComplexFloat64 => typeof(System.Numerics.Complex),
                    ScalarType.BFloat16 => throw new ArgumentException($"No support for {dtype} in TorchSharp"),
                    _ => null,
                };
                if (expected is not null && dotnetType != expected)
                    throw new ArgumentException($"{dotnetType.Name} is not compatible with {dtype}");
            }

            internal IntPtr DataPointer()
            {
                var p = NativeMethods.vf_tensor_data_ptr(Handle);
                if (p == IntPtr.Zero && NumberOfElements > 0) NativeMethods.CheckForErrors();
                return p;
            }

            /// <summary>A short description: shape, element type and device.</summary>
            public override string ToString() => IsInvalid ? "[invalid tensor]" : $"[{string.Join("x", shape)}], type = {dtype}, device = {device}";
        }
    }
}
