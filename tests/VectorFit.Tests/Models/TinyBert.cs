using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VectorFit.Tests.Models;

/// <summary>
/// A BERT-shaped classifier with Hugging Face module names (<c>embeddings.*</c>,
/// <c>encoder.layer.N.attention.self.{query,key,value}</c>, <c>attention.output.dense</c>,
/// <c>intermediate.dense</c>, <c>output.dense</c>, <c>LayerNorm</c>s, <c>classifier</c>), small enough for tests.
/// The same seed gives the same weights, so two instances built with one seed are copies of one base model.
/// </summary>
internal sealed class TinyBert : nn.Module<Tensor, Tensor>
{
    public const int Vocabulary = 20;
    public const int Hidden = 8;
    public const int Heads = 2;
    public const int FeedForward = 16;
    public const int Layers = 2;
    public const int MaxPositions = 8;
    public const int Classes = 3;

    private readonly Embeddings embeddings;
    private readonly Encoder encoder;
    private readonly nn.Module<Tensor, Tensor> classifier;

    public TinyBert(long seed, ScalarType dtype = ScalarType.Float64) : base(nameof(TinyBert))
    {
        torch.manual_seed(seed);
        embeddings = new Embeddings(dtype);
        encoder = new Encoder(dtype);
        classifier = nn.Linear(Hidden, Classes, dtype: dtype);
        RegisterComponents();
    }

    /// <summary>Input ids <c>(batch, seq)</c> int64 → logits <c>(batch, Classes)</c> from the first token.</summary>
    public override Tensor forward(Tensor inputIds)
    {
        using var scope = torch.NewDisposeScope();
        var hidden = encoder.forward(embeddings.forward(inputIds));
        var first = hidden.select(1, 0);
        return classifier.forward(first).MoveToOuterDisposeScope();
    }

    /// <summary>Seeded token ids <c>(batch, seq)</c>.</summary>
    public static Tensor Tokens(long seed, long batch = 4, long seq = 5)
    {
        torch.manual_seed(seed);
        return torch.randint(0, Vocabulary, new[] { batch, seq }, dtype: ScalarType.Int64);
    }

    private sealed class Embeddings : nn.Module<Tensor, Tensor>
    {
        private readonly Embedding word_embeddings;
        private readonly Embedding position_embeddings;
        private readonly LayerNorm LayerNorm;

        public Embeddings(ScalarType dtype) : base(nameof(Embeddings))
        {
            word_embeddings = nn.Embedding(Vocabulary, Hidden, dtype: dtype);
            position_embeddings = nn.Embedding(MaxPositions, Hidden, dtype: dtype);
            LayerNorm = nn.LayerNorm(Hidden, dtype: dtype);
            RegisterComponents();
        }

        public override Tensor forward(Tensor inputIds)
        {
            using var positions = torch.arange(inputIds.shape[1], dtype: ScalarType.Int64);
            using var words = word_embeddings.forward(inputIds);
            using var places = position_embeddings.forward(positions);
            using var sum = words.add(places, HeldScalars.One);  // Tensor + Tensor makes an unheld Scalar (alpha = 1): a GC during the call can free it
            return LayerNorm.forward(sum);
        }
    }

    private sealed class Encoder : nn.Module<Tensor, Tensor>
    {
        private readonly ModuleList<BertLayer> layer;

        public Encoder(ScalarType dtype) : base(nameof(Encoder))
        {
            layer = nn.ModuleList(Enumerable.Range(0, Layers).Select(_ => new BertLayer(dtype)).ToArray());
            RegisterComponents();
        }

        public override Tensor forward(Tensor hidden)
        {
            Tensor? h = null;
            foreach (var block in layer)
            {
                var next = block.forward(h ?? hidden);
                h?.Dispose();
                h = next;
            }

            return h!;
        }
    }

    private sealed class BertLayer : nn.Module<Tensor, Tensor>
    {
        private readonly Attention attention;
        private readonly Intermediate intermediate;
        private readonly AddNorm output;

        public BertLayer(ScalarType dtype) : base(nameof(BertLayer))
        {
            attention = new Attention(dtype);
            intermediate = new Intermediate(dtype);
            output = new AddNorm(FeedForward, dtype);
            RegisterComponents();
        }

        public override Tensor forward(Tensor hidden)
        {
            using var attended = attention.forward(hidden);
            using var inner = intermediate.forward(attended);
            return output.forward(inner, attended);
        }
    }

    private sealed class Attention : nn.Module<Tensor, Tensor>
    {
        private readonly SelfAttention self;
        private readonly AddNorm output;

        public Attention(ScalarType dtype) : base(nameof(Attention))
        {
            self = new SelfAttention(dtype);
            output = new AddNorm(Hidden, dtype);
            RegisterComponents();
        }

        public override Tensor forward(Tensor hidden)
        {
            using var context = self.forward(hidden);
            return output.forward(context, hidden);
        }
    }

    private sealed class SelfAttention : nn.Module<Tensor, Tensor>
    {
        private readonly nn.Module<Tensor, Tensor> query;
        private readonly nn.Module<Tensor, Tensor> key;
        private readonly nn.Module<Tensor, Tensor> value;

        public SelfAttention(ScalarType dtype) : base(nameof(SelfAttention))
        {
            query = nn.Linear(Hidden, Hidden, dtype: dtype);
            key = nn.Linear(Hidden, Hidden, dtype: dtype);
            value = nn.Linear(Hidden, Hidden, dtype: dtype);
            RegisterComponents();
        }

        public override Tensor forward(Tensor hidden)
        {
            using var scope = torch.NewDisposeScope();
            var (batch, seq) = (hidden.shape[0], hidden.shape[1]);
            Tensor Split(Tensor t) => t.reshape(batch, seq, Heads, Hidden / Heads).transpose(1, 2);
            var q = Split(query.forward(hidden));
            var k = Split(key.forward(hidden));
            var v = Split(value.forward(hidden));
            var scores = q.matmul(k.transpose(2, 3)) / Math.Sqrt(Hidden / Heads);
            var context = nn.functional.softmax(scores, -1).matmul(v).transpose(1, 2).reshape(batch, seq, Hidden);
            return context.MoveToOuterDisposeScope();
        }
    }

    private sealed class Intermediate : nn.Module<Tensor, Tensor>
    {
        private readonly nn.Module<Tensor, Tensor> dense;

        public Intermediate(ScalarType dtype) : base(nameof(Intermediate))
        {
            dense = nn.Linear(Hidden, FeedForward, dtype: dtype);
            RegisterComponents();
        }

        public override Tensor forward(Tensor hidden)
        {
            using var projected = dense.forward(hidden);
            return nn.functional.gelu(projected);
        }
    }

    /// <summary><c>LayerNorm(dense(x) + residual)</c>: BERT's <c>attention.output</c> and layer <c>output</c>.</summary>
    private sealed class AddNorm : nn.Module<Tensor, Tensor, Tensor>
    {
        private readonly nn.Module<Tensor, Tensor> dense;
        private readonly LayerNorm LayerNorm;

        public AddNorm(long inFeatures, ScalarType dtype) : base(nameof(AddNorm))
        {
            dense = nn.Linear(inFeatures, Hidden, dtype: dtype);
            LayerNorm = nn.LayerNorm(Hidden, dtype: dtype);
            RegisterComponents();
        }

        public override Tensor forward(Tensor input, Tensor residual)
        {
            using var projected = dense.forward(input);
            using var sum = projected.add(residual, HeldScalars.One);
            return LayerNorm.forward(sum);
        }
    }
}
