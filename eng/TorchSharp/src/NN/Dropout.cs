// nn.Dropout and nn.functional.dropout.
using TorchSharp.Modules;
using TorchSharp.PInvoke;
using static TorchSharp.torch;

namespace TorchSharp
{
    namespace Modules
    {
        /// <summary>In training mode zeroes each element with probability p and scales the rest by 1/(1−p); identity in eval mode.</summary>
        public sealed class Dropout : ParameterLessModule<Tensor, Tensor>
        {
            internal Dropout(double p = 0.5, bool inplace = false) : base(nameof(Dropout))
            {
                this.p = p;
                this.inplace = inplace;
            }

            public override Tensor forward(Tensor tensor) => nn.functional.dropout(tensor, p, training, inplace);

            /// <summary>Whether the input is modified in place.</summary>
            public bool inplace { get; set; }

            /// <summary>The probability of zeroing an element.</summary>
            public double p { get; set; }
        }
    }

    public static partial class torch
    {
        public static partial class nn
        {
            /// <summary>A dropout layer.</summary>
            /// <param name="p">Probability of an element to be zeroed.</param>
            /// <param name="inplace">Whether to modify the input in place.</param>
            public static Dropout Dropout(double p = 0.5, bool inplace = false) => new(p, inplace);

            public static partial class functional
            {
                /// <summary>
                /// With <paramref name="training"/>, zeroes each element with probability <paramref name="p"/> and
                /// scales the others by 1/(1−p); otherwise returns the input's values unchanged.
                /// </summary>
                public static Tensor dropout(Tensor input, double p = 0.5, bool training = true, bool inplace = false)
                {
                    if (p < 0 || p > 1) throw new System.Runtime.InteropServices.ExternalException($"dropout probability has to be between 0 and 1, but got {p.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
                    return inplace
                        ? Aten.T("aten::dropout_", "", input, p, training)
                        : Aten.T("aten::dropout", "", input, p, training);
                }
            }
        }
    }
}
