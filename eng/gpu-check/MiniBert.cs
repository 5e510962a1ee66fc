using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GpuCheck;

/// <summary>
/// A small float32 BERT-shaped classifier with Hugging Face module names (TargetPreset.Bert matches its q/k/v/o/f1/f2),
/// device-agnostic (positions are made on the input's device). The same seed gives the same weights.
/// </summary>
internal sealed class MiniBert : nn.Module<Tensor, Tensor>
{
    public const int Vocabulary = 50;
    public const int Hidden = 64;
    public const int Heads = 4;
    public const int FeedForward = 128;
    public const int Layers = 2;
    public const int MaxPositions = 32;
    public const int Classes = 3;

    private readonly Embeddings embeddings;
    private readonly Encoder encoder;
    private readonly nn.Module<Tensor, Tensor> classifier;

    public MiniBert(long seed) : base(nameof(MiniBert))
    {
        torch.manual_seed(seed);
        embeddings = new Embeddings();
        encoder = new Encoder();
        classifier = nn.Linear(Hidden, Classes);
        RegisterComponents();
    }

    public override Tensor forward(Tensor inputIds)
    {
        using var scope = torch.NewDisposeScope();
        var hidden = encoder.forward(embeddings.forward(inputIds));
        return classifier.forward(hidden.select(1, 0)).MoveToOuterDisposeScope();
    }

    public static Tensor Tokens(long seed, long batch, long seq)
    {
        torch.manual_seed(seed);
        return torch.randint(0, Vocabulary, new[] { batch, seq }, dtype: ScalarType.Int64);
    }

    private sealed class Embeddings : nn.Module<Tensor, Tensor>
    {
        private readonly Embedding word_embeddings;
        private readonly Embedding position_embeddings;
        private readonly LayerNorm LayerNorm;

        public Embeddings() : base(nameof(Embeddings))
        {
            word_embeddings = nn.Embedding(Vocabulary, Hidden);
            position_embeddings = nn.Embedding(MaxPositions, Hidden);
            LayerNorm = nn.LayerNorm(Hidden);
            RegisterComponents();
        }

        public override Tensor forward(Tensor inputIds)
        {
            using var scope = torch.NewDisposeScope();
            var positions = torch.arange(inputIds.shape[1], dtype: ScalarType.Int64, device: inputIds.device);
            var sum = word_embeddings.forward(inputIds) + position_embeddings.forward(positions);
            return LayerNorm.forward(sum).MoveToOuterDisposeScope();
        }
    }

    private sealed class Encoder : nn.Module<Tensor, Tensor>
    {
        private readonly ModuleList<BertLayer> layer;

        public Encoder() : base(nameof(Encoder))
        {
            layer = nn.ModuleList(Enumerable.Range(0, Layers).Select(_ => new BertLayer()).ToArray());
            RegisterComponents();
        }

        public override Tensor forward(Tensor hidden)
        {
            using var scope = torch.NewDisposeScope();
            var h = hidden;
            foreach (var block in layer)
            {
                h = block.forward(h);
            }

            return h.MoveToOuterDisposeScope();
        }
    }

    private sealed class BertLayer : nn.Module<Tensor, Tensor>
    {
        private readonly Attention attention;
        private readonly Intermediate intermediate;
        private readonly AddNorm output;

        public BertLayer() : base(nameof(BertLayer))
        {
            attention = new Attention();
            intermediate = new Intermediate();
            output = new AddNorm(FeedForward);
            RegisterComponents();
        }

        public override Tensor forward(Tensor hidden)
        {
            using var scope = torch.NewDisposeScope();
            var attended = attention.forward(hidden);
            return output.forward(intermediate.forward(attended), attended).MoveToOuterDisposeScope();
        }
    }

    private sealed class Attention : nn.Module<Tensor, Tensor>
    {
        private readonly SelfAttention self;
        private readonly AddNorm output;

        public Attention() : base(nameof(Attention))
        {
            self = new SelfAttention();
            output = new AddNorm(Hidden);
            RegisterComponents();
        }

        public override Tensor forward(Tensor hidden)
        {
            using var scope = torch.NewDisposeScope();
            return output.forward(self.forward(hidden), hidden).MoveToOuterDisposeScope();
        }
    }

    private sealed class SelfAttention : nn.Module<Tensor, Tensor>
    {
        private readonly nn.Module<Tensor, Tensor> query;
        private readonly nn.Module<Tensor, Tensor> key;
        private readonly nn.Module<Tensor, Tensor> value;

        public SelfAttention() : base(nameof(SelfAttention))
        {
            query = nn.Linear(Hidden, Hidden);
            key = nn.Linear(Hidden, Hidden);
            value = nn.Linear(Hidden, Hidden);
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

        public Intermediate() : base(nameof(Intermediate))
        {
            dense = nn.Linear(Hidden, FeedForward);
            RegisterComponents();
        }

        public override Tensor forward(Tensor hidden)
        {
            using var scope = torch.NewDisposeScope();
            return nn.functional.gelu(dense.forward(hidden)).MoveToOuterDisposeScope();
        }
    }

    private sealed class AddNorm : nn.Module<Tensor, Tensor, Tensor>
    {
        private readonly nn.Module<Tensor, Tensor> dense;
        private readonly LayerNorm LayerNorm;

        public AddNorm(long inFeatures) : base(nameof(AddNorm))
        {
            dense = nn.Linear(inFeatures, Hidden);
            LayerNorm = nn.LayerNorm(Hidden);
            RegisterComponents();
        }

        public override Tensor forward(Tensor input, Tensor residual)
        {
            using var scope = torch.NewDisposeScope();
            return LayerNorm.forward(dense.forward(input) + residual).MoveToOuterDisposeScope();
        }
    }
}
