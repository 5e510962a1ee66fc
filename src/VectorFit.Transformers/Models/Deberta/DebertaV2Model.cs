using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace VectorFit.Transformers.Models;

/// <summary>
/// The block stack (<c>layer.N</c>) with the shared relative position table <c>rel_embeddings</c>
/// (<c>2·position_buckets</c> rows) and, when <c>norm_rel_ebd</c> says <c>layer_norm</c>, its <c>LayerNorm</c>.
/// </summary>
public sealed class DebertaV2Encoder : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly ModuleList<DebertaV2Layer> layer;
    private readonly Embedding? rel_embeddings;

    [ComponentName(Name = "LayerNorm")]
    private readonly LayerNorm? _layerNorm;

    private readonly TransformerConfig config;

    /// <summary>Builds the encoder.</summary>
    /// <param name="config">The model configuration.</param>
    public DebertaV2Encoder(TransformerConfig config)
        : base(nameof(DebertaV2Encoder))
    {
        this.config = config;
        layer = nn.ModuleList(Enumerable.Range(0, config.NumHiddenLayers).Select(_ => new DebertaV2Layer(config)).ToArray());
        if (config.RelativeAttention)
        {
            rel_embeddings = nn.Embedding(2L * config.PositionEmbeddingSpan, config.HiddenSize);
            _layerNorm = config.NormRelativeEmbeddings ? nn.LayerNorm(config.HiddenSize, eps: config.LayerNormEps) : null;
        }

        RegisterComponents();
    }

    /// <summary>Runs every block.</summary>
    /// <param name="hidden">Embeddings <c>(batch, length, hidden)</c>.</param>
    /// <param name="attentionMask"><c>(batch, length)</c>, 1 for tokens, 0 for padding.</param>
    /// <returns><c>(batch, length, hidden)</c>.</returns>
    /// <remarks>Each block runs in its own dispose scope and its output is released once the next block has used it (as in BERT's encoder).</remarks>
    public override Tensor forward(Tensor hidden, Tensor attentionMask)
    {
        Tensor pairMask = PairMask(attentionMask);
        long length = hidden.shape[1];
        Tensor relativePositions = RelativePositions.Build(
            length, length, config.PositionBuckets, config.EffectiveMaxRelativePositions, hidden.device);
        Tensor? table = null;
        if (rel_embeddings is not null)
        {
            table = _layerNorm is null ? rel_embeddings.weight : _layerNorm.call(rel_embeddings.weight!);
        }

        return EncoderBlocks.Run(hidden, layer.Cast<DebertaV2Layer>(), (block, h) => block.call(h, pairMask, relativePositions, table));
    }

    /// <summary>
    /// The pairwise mask of Hugging Face's <c>get_attention_mask</c>: <c>m(i, j) = mask(i) · mask(j)</c>,
    /// shape <c>(batch, 1, length, length)</c>.
    /// </summary>
    /// <param name="attentionMask"><c>(batch, length)</c>.</param>
    /// <returns>The pair mask (same dtype as the input).</returns>
    public static Tensor PairMask(Tensor attentionMask) =>
        attentionMask.unsqueeze(1).unsqueeze(2).mul(attentionMask.unsqueeze(1).unsqueeze(3));
}

/// <summary>
/// The DeBERTa-v2/v3 encoder (Hugging Face <c>DebertaV2Model</c>): <c>embeddings</c>, <c>encoder</c>, with Hugging Face's
/// module and parameter names (<c>encoder.layer.0.attention.self.query_proj</c>, …), so VectorFit's
/// <c>TargetPreset.DebertaV2</c> finds its q/k/v/o/f1/f2 layers.
/// </summary>
public sealed class DebertaV2Model : nn.Module<Tensor, Tensor, Tensor, Tensor>
{
    private readonly DebertaV2Embeddings embeddings;
    private readonly DebertaV2Encoder encoder;

    /// <summary>Builds the encoder with random weights (load a checkpoint with <see cref="FromPretrained"/>).</summary>
    /// <param name="config">The model configuration (<c>model_type</c> <c>deberta-v2</c>).</param>
    public DebertaV2Model(TransformerConfig config)
        : base(nameof(DebertaV2Model))
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        embeddings = new DebertaV2Embeddings(config);
        encoder = new DebertaV2Encoder(config);
        RegisterComponents();
    }

    /// <summary>The configuration the model was built from.</summary>
    public TransformerConfig Config { get; }

    /// <summary>
    /// Loads a Hugging Face DeBERTa-v2/v3 checkpoint folder (<c>config.json</c> and <c>model.safetensors</c>), like
    /// <c>DebertaV2Model.from_pretrained</c>. Weights saved from a model with heads (keys <c>deberta.…</c>) load too,
    /// their heads ignored.
    /// </summary>
    /// <param name="folder">The checkpoint folder.</param>
    /// <returns>The model, in training mode, on the CPU.</returns>
    /// <exception cref="ArgumentException"><c>config.json</c> describes another <c>model_type</c>.</exception>
    /// <exception cref="FileNotFoundException"><c>config.json</c> or <c>model.safetensors</c> is missing (a folder with only
    /// <c>pytorch_model.bin</c> is refused with how to convert it).</exception>
    /// <exception cref="CheckpointMismatchException">The weights do not fit the model <c>config.json</c> describes.</exception>
    public static DebertaV2Model FromPretrained(string folder) => CheckpointLoader.Load(
        folder,
        config => config.IsDeberta
            ? new DebertaV2Model(config)
            : throw new ArgumentException($"{Path.Combine(folder, TransformerConfig.FileName)} has model_type \"{config.ModelType}\"; load it with BertModel.FromPretrained (or SequenceClassifier.FromPretrained, which follows model_type).", nameof(folder)),
        model => new CheckpointLayout(
            "deberta",
            IsBaseModel: true,
            [],
            model.Config.PositionBiasedInput
                ? ["lm_predictions.", "mask_predictions.", "pooler.", "classifier.", "embeddings.position_ids"]
                : ["lm_predictions.", "mask_predictions.", "pooler.", "classifier.", "embeddings.position_ids", "embeddings.position_embeddings."],
            model.Config.InitializerRange));

    /// <summary>Encodes a batch.</summary>
    /// <param name="inputIds"><c>(batch, length)</c> int64.</param>
    /// <param name="attentionMask"><c>(batch, length)</c>, 1 for tokens, 0 for padding.</param>
    /// <param name="tokenTypeIds"><c>(batch, length)</c> int64.</param>
    /// <returns>The last hidden states <c>(batch, length, hidden)</c>.</returns>
    public override Tensor forward(Tensor inputIds, Tensor attentionMask, Tensor tokenTypeIds) =>
        encoder.call(embeddings.call(inputIds, tokenTypeIds, attentionMask), attentionMask);
}

/// <summary>DeBERTa's <c>ContextPooler</c>: <c>act(dense(dropout(h[:, 0])))</c> (registered at the root as <c>pooler</c>).</summary>
public sealed class ContextPooler : nn.Module<Tensor, Tensor>
{
    private readonly Linear dense;
    private readonly Dropout dropout;
    private readonly string activation;

    /// <summary>Builds the pooler.</summary>
    /// <param name="config">The model configuration.</param>
    public ContextPooler(TransformerConfig config)
        : base(nameof(ContextPooler))
    {
        dense = nn.Linear(config.HiddenSize, config.HiddenSize);
        dropout = nn.Dropout(config.PoolerDropout);
        activation = config.PoolerHiddenAct;
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input) => Activations.Apply(activation, dense.call(dropout.call(input.select(1, 0))));
}

/// <summary>
/// <c>DebertaV2ForSequenceClassification</c>: <c>deberta</c>, then <c>pooler</c>, <c>dropout</c> and
/// <c>classifier</c>. A base checkpoint (microsoft/deberta-v3-base) has neither pooler nor classifier.
/// </summary>
public sealed class DebertaV2ForSequenceClassification : SequenceClassifier
{
    private readonly DebertaV2Model deberta;
    private readonly nn.Module<Tensor, Tensor> pooler;
    private readonly Dropout dropout;
    // Typed as modules, not Linear (sealed) or ContextPooler, so that an AdapterBank can swap in its routed heads (issue 21).
    private readonly nn.Module<Tensor, Tensor> classifier;

    /// <summary>Builds the model with random weights.</summary>
    /// <param name="config">The model configuration.</param>
    /// <param name="numLabels">Outputs of the head.</param>
    public DebertaV2ForSequenceClassification(TransformerConfig config, int numLabels)
        : base(nameof(DebertaV2ForSequenceClassification), config, numLabels)
    {
        deberta = new DebertaV2Model(config);
        pooler = new ContextPooler(config);
        dropout = nn.Dropout(config.ClassifierDropout ?? config.HiddenDropoutProb);
        classifier = nn.Linear(config.HiddenSize, numLabels);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override IReadOnlyList<string> HeadPrefixes { get; } = ["classifier."];

    /// <inheritdoc />
    public override string PoolerPrefix => "pooler.";

    /// <inheritdoc />
    public override IReadOnlyList<string> OptionalPrefixes { get; } = ["pooler.", "classifier."];

    /// <inheritdoc />
    public override string BaseModelPrefix => "deberta";

    /// <inheritdoc />
    public override IReadOnlyList<string> IgnoredCheckpointPrefixes => Config.PositionBiasedInput
        ? ["lm_predictions.", "mask_predictions.", "deberta.embeddings.position_ids"]
        : ["lm_predictions.", "mask_predictions.", "deberta.embeddings.position_ids", "deberta.embeddings.position_embeddings."];

    /// <inheritdoc />
    public override Tensor forward(Tensor inputIds, Tensor attentionMask, Tensor tokenTypeIds) =>
        classifier.call(dropout.call(PoolHidden(deberta.call(inputIds, attentionMask, tokenTypeIds), attentionMask)));

    /// <inheritdoc />
    public override Tensor Encode(Tensor inputIds, Tensor attentionMask, Tensor tokenTypeIds) =>
        deberta.call(inputIds, attentionMask, tokenTypeIds);

    /// <inheritdoc />
    public override Tensor Pool(Tensor hidden) => pooler.call(hidden);
}
