// nn.Identity: returns its input (as a new handle).
using TorchSharp.Modules;
using TorchSharp.PInvoke;
using static TorchSharp.torch;

namespace TorchSharp
{
    namespace Modules
    {
        /// <summary>A placeholder that returns its input (an alias, so disposing the result leaves the input alive).</summary>
        public sealed class Identity : ParameterLessModule<Tensor, Tensor>
        {
            internal Identity() : base(nameof(Identity))
            {
            }

            public override Tensor forward(Tensor tensor) => Aten.T("aten::alias", "", tensor);
        }
    }

    public static partial class torch
    {
        public static partial class nn
        {
            /// <summary>An identity module.</summary>
            public static Identity Identity() => new();
        }
    }
}
