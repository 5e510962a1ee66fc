// Members added for the GLUE sample's models (same signatures as TorchSharp 0.105.1).
using TorchSharp.PInvoke;

namespace TorchSharp
{
    public static partial class torch
    {
        public partial class Tensor
        {
            /// <summary>Softmax along <paramref name="dim"/>, computed in <paramref name="dtype"/> when given.</summary>
            public Tensor softmax(long dim, ScalarType? dtype = null) => Aten.T("aten::softmax", "int", this, dim, dtype ?? this.dtype);
        }
    }
}
