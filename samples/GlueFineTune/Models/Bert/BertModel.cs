using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GlueFineTune.Models.Bert;

/// <summary>The stack of blocks, registered as <c>layer.0</c>, <c>layer.1</c>, ….</summary>
internal sealed class BertEncoder : nn.Module
{
    private readonly ModuleList<BertLayer> layer;

    /// <summary>Builds <c>num_hidden_layers</c> blocks.</summary>
    /// <param name="config">The model configuration.</param>
    public BertEncoder(TransformerConfig config)
        : base(nameof(BertEncoder))
    {
        layer = nn.ModuleList(Enumerable.Range(0, config.NumHiddenLayers).Select(_ => new BertLayer(config)).ToArray());
        RegisterComponents();
    }

    /// <summary>Runs every block in order.</summary>
    /// <param name="hidden"><c>(batch, length, hidden)</c>.</param>
    /// <param name="additiveMask">The additive key mask <c>(batch, 1, 1, length)</c>.</param>
    /// <returns><c>(batch, length, hidden)</c>.</returns>
    public Tensor Forward(Tensor hidden, Tensor additiveMask)
    {
        foreach (BertLayer block in layer)
        {
            hidden = block.Forward(hidden, additiveMask);
        }

        return hidden;
    }
}

/// <summary>BERT's pooler: <c>tanh(dense(h[:, 0]))</c>, the <c>[CLS]</c> summary.</summary>
internal sealed class BertPooler : nn.Module<Tensor, Tensor>
{
    private readonly Linear dense;

    /// <summary>Builds the pooler.</summary>
    /// <param name="config">The model configuration.</param>
    public BertPooler(TransformerConfig config)
        : base(nameof(BertPooler))
    {
        dense = nn.Linear(config.HiddenSize, config.HiddenSize);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input) => dense.call(input.select(1, 0)).tanh();
}

/// <summary>The BERT encoder: <c>embeddings</c>, <c>encoder</c>, <c>pooler</c>.</summary>
internal sealed class BertModel : nn.Module
{
    private readonly BertEmbeddings embeddings;
    private readonly BertEncoder encoder;
    private readonly BertPooler pooler;

    /// <summary>Builds the encoder.</summary>
    /// <param name="config">The model configuration.</param>
    public BertModel(TransformerConfig config)
        : base(nameof(BertModel))
    {
        embeddings = new BertEmbeddings(config);
        encoder = new BertEncoder(config);
        pooler = new BertPooler(config);
        RegisterComponents();
    }

    /// <summary>Encodes a batch and pools its <c>[CLS]</c> position.</summary>
    /// <param name="inputIds"><c>(batch, length)</c> int64.</param>
    /// <param name="attentionMask"><c>(batch, length)</c>, 1 for tokens, 0 for padding.</param>
    /// <param name="tokenTypeIds"><c>(batch, length)</c> int64.</param>
    /// <returns>The pooled output <c>(batch, hidden)</c>.</returns>
    public Tensor Forward(Tensor inputIds, Tensor attentionMask, Tensor tokenTypeIds) =>
        pooler.call(Encode(inputIds, attentionMask, tokenTypeIds));

    /// <summary>Applies the pooler.</summary>
    /// <param name="hidden"><c>(batch, length, hidden)</c>.</param>
    /// <returns><c>(batch, hidden)</c>.</returns>
    public Tensor Pool(Tensor hidden) => pooler.call(hidden);

    /// <summary>Encodes a batch.</summary>
    /// <param name="inputIds"><c>(batch, length)</c> int64.</param>
    /// <param name="attentionMask"><c>(batch, length)</c>, 1 for tokens, 0 for padding.</param>
    /// <param name="tokenTypeIds"><c>(batch, length)</c> int64.</param>
    /// <returns>The last hidden states <c>(batch, length, hidden)</c>.</returns>
    public Tensor Encode(Tensor inputIds, Tensor attentionMask, Tensor tokenTypeIds)
    {
        Tensor hidden = embeddings.Forward(inputIds, tokenTypeIds);
        return encoder.Forward(hidden, AdditiveMask(attentionMask, hidden.dtype));
    }

    /// <summary>
    /// The extended attention mask of Hugging Face's BERT: <c>(1 − mask)·min(dtype)</c>, shape
    /// <c>(batch, 1, 1, length)</c>, added to every query row's scores.
    /// </summary>
    /// <param name="attentionMask"><c>(batch, length)</c>, 1 for tokens, 0 for padding.</param>
    /// <param name="dtype">The scores' dtype.</param>
    /// <returns>The additive mask.</returns>
    public static Tensor AdditiveMask(Tensor attentionMask, ScalarType dtype)
    {
        using var min = (dtype == ScalarType.Float64 ? double.MinValue : float.MinValue).ToScalar();
        return ones_like(attentionMask, dtype: dtype).sub(attentionMask.to_type(dtype)).mul(min).unsqueeze(1).unsqueeze(2);
    }
}

/// <summary>
/// <c>BertForSequenceClassification</c>: <c>bert</c> then <c>dropout</c> and <c>classifier</c> (a linear layer,
/// hidden → labels; 1 output for regression).
/// </summary>
internal sealed class BertForSequenceClassification : SequenceClassifier
{
    private readonly BertModel bert;
    private readonly Dropout dropout;
    private readonly Linear classifier;

    /// <summary>Builds the model with random weights (load a checkpoint with <see cref="CheckpointLoader"/>).</summary>
    /// <param name="config">The model configuration.</param>
    /// <param name="numLabels">Outputs of the head (classes, or 1 for regression).</param>
    public BertForSequenceClassification(TransformerConfig config, int numLabels)
        : base(nameof(BertForSequenceClassification), config, numLabels)
    {
        bert = new BertModel(config);
        dropout = nn.Dropout(config.ClassifierDropout ?? config.HiddenDropoutProb);
        classifier = nn.Linear(config.HiddenSize, numLabels);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override IReadOnlyList<string> HeadPrefixes { get; } = ["classifier."];

    /// <inheritdoc />
    public override IReadOnlyList<string> OptionalPrefixes { get; } = ["bert.pooler.", "classifier."];

    /// <inheritdoc />
    public override string BaseModelPrefix => "bert";

    /// <inheritdoc />
    public override IReadOnlyList<string> IgnoredCheckpointPrefixes { get; } = ["cls.", "bert.embeddings.position_ids"];

    /// <inheritdoc />
    public override string PoolerPrefix => "bert.pooler.";

    /// <inheritdoc />
    public override Tensor Forward(Tensor inputIds, Tensor attentionMask, Tensor tokenTypeIds) =>
        classifier.call(dropout.call(PoolHidden(bert.Encode(inputIds, attentionMask, tokenTypeIds), attentionMask)));

    /// <inheritdoc />
    public override Tensor Encode(Tensor inputIds, Tensor attentionMask, Tensor tokenTypeIds) =>
        bert.Encode(inputIds, attentionMask, tokenTypeIds);

    /// <inheritdoc />
    public override Tensor Pool(Tensor hidden) => bert.Pool(hidden);
}
