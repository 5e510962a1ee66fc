// Members added for the VectorFitLinear / AVF work (same signatures as TorchSharp 0.105.1).
using TorchSharp.PInvoke;

namespace TorchSharp
{
    public static partial class torch
    {
        /// <summary>Whether the element type is a floating-point type (Float16, BFloat16, Float32, Float64).</summary>
        public static bool is_floating_point(ScalarType type) =>
            type is ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float32 or ScalarType.Float64;

        /// <summary>Whether the tensor's element type is a floating-point type.</summary>
        public static bool is_floating_point(Tensor input) => is_floating_point(input.dtype);

        /// <summary><paramref name="steps"/> evenly spaced values from <paramref name="start"/> to <paramref name="end"/>, both included.</summary>
        public static Tensor linspace(double start, double end, long steps, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) =>
            Finish(Aten.T("aten::linspace", "", start, end, steps, Dtype(dtype).Named("dtype"), ((Arg)device).Named("device")), requires_grad);
    }
}
