// nn.Embedding: a lookup table of embedding vectors (libtorch's EmbeddingImpl semantics).
using TorchSharp.Modules;
using TorchSharp.PInvoke;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace TorchSharp
{
    namespace Modules
    {
        /// <summary>
        /// Looks up rows of <see cref="weight"/> <c>(num_embeddings, embedding_dim)</c> by index. TorchSharp
        /// implements it over libtorch's C++ module: <c>Module.to</c> converts the weight in place, so the
        /// Parameter object stays the same.
        /// </summary>
        public sealed class Embedding : nn.Module<Tensor, Tensor>
        {
            // The tensor libtorch's module holds as its "weight" member (registered under that name).
            [ComponentName(Name = "weight")]
            private Parameter nativeWeight;
            private readonly long? paddingIdx;
            private readonly double? maxNorm;
            private readonly double normType;
            private readonly bool scaleGradByFreq;
            private readonly bool sparse;

            internal Embedding(Parameter weight, long? padding_idx, double? max_norm, double norm_type, bool scale_grad_by_freq, bool sparse)
                : base(null, "torch::nn::EmbeddingImpl")
            {
                // libtorch's module keeps the weight alive whatever scope the module is built in.
                nativeWeight = (Parameter)weight.DetachFromDisposeScope();
                paddingIdx = padding_idx;
                maxNorm = max_norm;
                normType = norm_type;
                scaleGradByFreq = scale_grad_by_freq;
                this.sparse = sparse;
                register_parameter("weight", weight);
            }

            public override Tensor forward(Tensor input)
            {
                var w = nativeWeight;
                var padding = NormalizePaddingIndex(paddingIdx, w.shape[0]) ?? -1;
                var indices = input;
                using var scope = NewDisposeScope();
                if (maxNorm.HasValue) {
                    indices = input.contiguous();
                    using var noGrad = no_grad();
                    Aten.Do("aten::embedding_renorm_", "", w, indices, maxNorm.Value, normType);
                }
                return Aten.T("aten::embedding", "", w, indices, padding, scaleGradByFreq, sparse).MoveToOuterDisposeScope();
            }

            internal static long? NormalizePaddingIndex(long? padding_idx, long num_embeddings)
            {
                if (!padding_idx.HasValue) return null;
                var p = padding_idx.Value;
                if (p > 0 && p >= num_embeddings) throw new System.Runtime.InteropServices.ExternalException("Padding_idx must be within num_embeddings");
                if (p < 0) {
                    if (p < -num_embeddings) throw new System.Runtime.InteropServices.ExternalException("Padding_idx must be within num_embedding");
                    p += num_embeddings;
                }
                return p;
            }

            /// <summary>The embedding table <c>(num_embeddings, embedding_dim)</c>; it cannot be set to null.</summary>
            public Parameter? weight {
                get => nativeWeight;
                set {
                    if (value is null) throw new ArgumentNullException("weight cannot be set to 'null'");
                    _ = value.Handle;
                    nativeWeight = value;
                    ConditionallyRegisterParameter("weight", value);
                }
            }

            private protected override void NativeModuleTo(ScalarType? dtype, Device? device)
            {
                // libtorch's Module::to: each own parameter gets converted data, keeping its identity.
                var w = nativeWeight;
                using var scope = NewDisposeScope();
                var converted = w.detach().to(dtype ?? w.dtype, device ?? w.device);
                Aten.Do("aten::set_data", "", w, converted);
            }
        }
    }

    public static partial class torch
    {
        public static partial class nn
        {
            /// <summary>An embedding table initialised from N(0, 1) (the padding row, if any, zeroed).</summary>
            /// <param name="num_embeddings">Size of the dictionary of embeddings.</param>
            /// <param name="embedding_dims">Size of each embedding vector.</param>
            /// <param name="padding_idx">Row whose entries are zero and receive no gradient.</param>
            /// <param name="max_norm">Rows looked up with a larger norm are renormalised to this norm.</param>
            /// <param name="norm_type">The p of the p-norm for <paramref name="max_norm"/>.</param>
            /// <param name="scale_grad_by_freq">Scale gradients by the inverse frequency of the indices in the batch.</param>
            /// <param name="sparse">Sparse gradients for the weight.</param>
            /// <param name="device">The device of the weight.</param>
            /// <param name="dtype">The element type of the weight (default float32).</param>
            public static Embedding Embedding(long num_embeddings, long embedding_dims, long? padding_idx = null, double? max_norm = null, double norm_type = 2.0, bool scale_grad_by_freq = false, bool sparse = false, Device? device = null, ScalarType? dtype = null)
            {
                var padding = Modules.Embedding.NormalizePaddingIndex(padding_idx, num_embeddings);
                var weight = new Parameter(empty(new[] { num_embeddings, embedding_dims }));
                init.normal_(weight);
                if (padding.HasValue) {
                    using var noGrad = no_grad();
                    using var row = weight[padding.Value];
                    row.fill_(0);
                }
                return new Embedding(weight, padding, max_norm, norm_type, scale_grad_by_freq, sparse).MoveModule<Embedding>(device, dtype);
            }

            /// <summary>An embedding table holding <paramref name="embeddings"/> (sharing its storage).</summary>
            /// <param name="embeddings">The table, <c>(num_embeddings, embedding_dim)</c>.</param>
            /// <param name="freeze">Whether the table is excluded from training (requires_grad false).</param>
            /// <param name="padding_idx">Row that receives no gradient.</param>
            /// <param name="max_norm">Rows looked up with a larger norm are renormalised to this norm.</param>
            /// <param name="norm_type">The p of the p-norm for <paramref name="max_norm"/>.</param>
            /// <param name="scale_grad_by_freq">Scale gradients by the inverse frequency of the indices in the batch.</param>
            /// <param name="sparse">Sparse gradients for the weight.</param>
            /// <param name="device">The device of the weight.</param>
            /// <param name="dtype">The element type of the weight.</param>
            public static Embedding Embedding_from_pretrained(Tensor embeddings, bool freeze = true, long? padding_idx = null, double? max_norm = null, double norm_type = 2.0, bool scale_grad_by_freq = false, bool sparse = false, Device? device = null, ScalarType? dtype = null)
            {
                if (embeddings.dim() != 2) throw new System.Runtime.InteropServices.ExternalException("Embeddings parameter is expected to be 2-dimensional");
                var padding = Modules.Embedding.NormalizePaddingIndex(padding_idx, embeddings.shape[0]);
                var weight = new Parameter(embeddings.detach(), requires_grad: !freeze);
                return new Embedding(weight, padding, max_norm, norm_type, scale_grad_by_freq, sparse).MoveModule<Embedding>(device, dtype);
            }
        }
    }
}
