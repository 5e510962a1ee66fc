// The activation modules GELU, Tanh and ReLU, and their nn.functional forms.
using TorchSharp.Modules;
using TorchSharp.PInvoke;
using static TorchSharp.torch;

namespace TorchSharp
{
    namespace Modules
    {
        /// <summary>Gaussian error linear unit, exact form: <c>x·Φ(x)</c>.</summary>
        public sealed class GELU : ParameterLessModule<Tensor, Tensor>
        {
            internal GELU(bool inplace) : base(nameof(GELU))
            {
                this.inplace = inplace;
            }

            public override Tensor forward(Tensor tensor) => nn.functional.gelu(tensor, inplace);

            /// <summary>Whether the input is modified in place.</summary>
            public bool inplace { get; set; }
        }

        /// <summary>Hyperbolic tangent.</summary>
        public sealed class Tanh : ParameterLessModule<Tensor, Tensor>
        {
            internal Tanh(bool inplace) : base(nameof(Tanh))
            {
                this.inplace = inplace;
            }

            public override Tensor forward(Tensor tensor) => nn.functional.tanh(tensor, inplace);

            public override string GetName() => typeof(Tanh).Name;

            /// <summary>Whether the input is modified in place.</summary>
            public bool inplace { get; set; }
        }

        /// <summary>Rectified linear unit, <c>max(x, 0)</c>.</summary>
        public sealed class ReLU : ParameterLessModule<Tensor, Tensor>
        {
            internal ReLU(bool inplace) : base(nameof(ReLU))
            {
                this.inplace = inplace;
            }

            public override Tensor forward(Tensor tensor) => nn.functional.relu(tensor, inplace);

            /// <summary>Whether the input is modified in place.</summary>
            public bool inplace { get; set; }
        }
    }

    public static partial class torch
    {
        public static partial class nn
        {
            /// <summary>A GELU activation (exact erf form).</summary>
            public static GELU GELU() => new(false);

            /// <summary>A GELU activation (exact erf form).</summary>
            /// <param name="inplace">Whether to modify the input in place.</param>
            public static GELU GELU(bool inplace) => new(inplace);

            /// <summary>A Tanh activation.</summary>
            public static Tanh Tanh() => new(false);

            /// <summary>A Tanh activation.</summary>
            /// <param name="inplace">Whether to modify the input in place.</param>
            public static Tanh Tanh(bool inplace = false) => new(inplace);

            /// <summary>A ReLU activation.</summary>
            /// <param name="inplace">Whether to modify the input in place.</param>
            public static ReLU ReLU(bool inplace = false) => new(inplace);

            public static partial class functional
            {
                /// <summary>GELU, exact form <c>x·Φ(x)</c>.</summary>
                public static Tensor gelu(Tensor x, bool inplace) => inplace
                    ? InPlace("aten::gelu_", x)
                    : Aten.T("aten::gelu", "", x);

                /// <summary>GELU, exact form <c>x·Φ(x)</c>.</summary>
                public static Tensor gelu(Tensor x) => gelu(x, false);

                /// <summary>Hyperbolic tangent.</summary>
                public static Tensor tanh(Tensor x, bool inplace = false) => inplace ? InPlace("aten::tanh_", x) : Aten.T("aten::tanh", "", x);

                /// <summary>Rectified linear unit.</summary>
                public static Tensor relu(Tensor x, bool inplace = false) => inplace ? InPlace("aten::relu_", x) : Aten.T("aten::relu", "", x);

                /// <summary>Runs an in-place operator and returns a new handle (an alias) of the modified input.</summary>
                private static Tensor InPlace(string op, Tensor x)
                {
                    Aten.Do(op, "", x);
                    return Aten.T("aten::alias", "", x);
                }
            }
        }
    }
}
