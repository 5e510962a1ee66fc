// Parameters: tensors that modules register as trainable.
using static TorchSharp.torch;

namespace TorchSharp
{
    namespace Modules
    {
        /// <summary>A tensor that is a module parameter (requires grad by default).</summary>
        public class Parameter : Tensor
        {
            public Parameter(Tensor data, bool requires_grad = true) : base(data.with_requires_grad(requires_grad).MoveHandle(), false)
            {
                if (data.OwningDisposeScope is not null) DisposeScope.ReplaceWith(data, this);
            }

            internal Parameter(IntPtr handle) : base(handle)
            {
            }
        }
    }

    public static partial class torch
    {
        public static partial class nn
        {
            /// <summary>Wraps a tensor as a parameter.</summary>
            public static Modules.Parameter Parameter(Tensor data, bool requires_grad = true) => new(data, requires_grad);
        }
    }
}
