// nn.functional: softmax, log_softmax and the losses cross_entropy and mse_loss; nn.Reduction.
using TorchSharp.PInvoke;

namespace TorchSharp
{
    public static partial class torch
    {
        public static partial class nn
        {
            /// <summary>How a loss reduces its per-element values.</summary>
            public enum Reduction : long
            {
                None = 0,
                Mean = 1,
                Sum = 2,
            }

            public static partial class functional
            {
                /// <summary>Softmax along <paramref name="dim"/> (computed in <paramref name="dtype"/> when given).</summary>
                public static Tensor softmax(Tensor input, long dim, ScalarType? dtype = null) =>
                    Aten.T("aten::softmax", "int", input, dim, dtype ?? input.dtype);

                /// <summary>Log-softmax along <paramref name="dim"/>.</summary>
                public static Tensor log_softmax(Tensor x, long dim) => Aten.T("aten::log_softmax", "int", x, dim, x.dtype);

                /// <summary>
                /// Cross entropy between logits <c>(N, C, ...)</c> and class indices (or class probabilities); with
                /// <see cref="Reduction.Mean"/>, the (weighted) mean over the targets that are not <paramref name="ignore_index"/>.
                /// </summary>
                public static Tensor cross_entropy(Tensor input, Tensor target, Tensor? weight = null, long ignore_index = -100, Reduction reduction = Reduction.Mean, double label_smoothing = 0.0) =>
                    Aten.T("aten::cross_entropy_loss", "", input, target, weight, (long)reduction, ignore_index, label_smoothing);

                /// <summary>Mean squared error (or its sum, or the element-wise squares).</summary>
                public static Tensor mse_loss(Tensor input, Tensor target, Reduction reduction = Reduction.Mean) =>
                    Aten.T("aten::mse_loss", "", input, target, (long)reduction);
            }
        }
    }
}
