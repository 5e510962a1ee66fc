using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VectorFit.Transformers.Models;

/// <summary>The stack of blocks, registered as <c>layer.0</c>, <c>layer.1</c>, ….</summary>
public sealed class BertEncoder : nn.Module<Tensor, Tensor, Tensor>
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
    /// <remarks>
    /// Each block runs in its own dispose scope, and a block's output is released as soon as the next block has used it: a
    /// forward holds one block's temporaries at a time, not every block's until the caller's scope ends (under <c>no_grad</c>
    /// that is most of an evaluation's memory; with gradients autograd keeps what backward needs by its own references).
    /// </remarks>
    public override Tensor forward(Tensor hidden, Tensor additiveMask) =>
        EncoderBlocks.Run(hidden, layer.Cast<BertLayer>(), (block, h) => block.call(h, additiveMask));
}

/// <summary>BERT's pooler: <c>tanh(dense(h[:, 0]))</c>, the <c>[CLS]</c> summary.</summary>
public sealed class BertPooler : nn.Module<Tensor, Tensor>
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

/// <summary>
/// The BERT encoder (Hugging Face <c>BertModel</c>): <c>embeddings</c>, <c>encoder</c>, <c>pooler</c>, with Hugging Face's
/// module and parameter names (<c>encoder.layer.0.attention.self.query</c>, …), so VectorFit's
/// <c>TargetPreset.Bert</c> finds its q/k/v/o/f1/f2 layers.
/// </summary>
public sealed class BertModel : nn.Module<Tensor, Tensor, Tensor, Tensor>
{
    private readonly BertEmbeddings embeddings;
    private readonly BertEncoder encoder;
    // Typed as a module so that an AdapterBank can swap in its routed head when the pooler trains with the head (issue 21).
    private readonly nn.Module<Tensor, Tensor> pooler;

    /// <summary>Builds the encoder with random weights (load a checkpoint with <see cref="FromPretrained"/>).</summary>
    /// <param name="config">The model configuration (<c>model_type</c> <c>bert</c>).</param>
    public BertModel(TransformerConfig config)
        : base(nameof(BertModel))
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        embeddings = new BertEmbeddings(config);
        encoder = new BertEncoder(config);
        pooler = new BertPooler(config);
        RegisterComponents();
    }

    /// <summary>The configuration the model was built from.</summary>
    public TransformerConfig Config { get; }

    /// <summary>
    /// Loads a Hugging Face BERT checkpoint folder (<c>config.json</c> and <c>model.safetensors</c>), like
    /// <c>BertModel.from_pretrained</c>. Weights saved from a model with heads (keys <c>bert.…</c>) load too, their
    /// heads ignored; a checkpoint without the pooler gets a freshly initialised one.
    /// </summary>
    /// <param name="folder">The checkpoint folder.</param>
    /// <returns>The model, in training mode, on the CPU.</returns>
    /// <exception cref="ArgumentException"><c>config.json</c> describes another <c>model_type</c>.</exception>
    /// <exception cref="FileNotFoundException"><c>config.json</c> or <c>model.safetensors</c> is missing (a folder with only
    /// <c>pytorch_model.bin</c> is refused with how to convert it).</exception>
    /// <exception cref="CheckpointMismatchException">The weights do not fit the model <c>config.json</c> describes.</exception>
    public static BertModel FromPretrained(string folder) => CheckpointLoader.Load(
        folder,
        config => config.ModelType == "bert"
            ? new BertModel(config)
            : throw new ArgumentException($"{Path.Combine(folder, TransformerConfig.FileName)} has model_type \"{config.ModelType}\"; load it with DebertaV2Model.FromPretrained (or SequenceClassifier.FromPretrained, which follows model_type).", nameof(folder)),
        model => new CheckpointLayout("bert", IsBaseModel: true, ["pooler."], ["cls.", "classifier.", "embeddings.position_ids"], model.Config.InitializerRange));

    /// <summary>Encodes a batch.</summary>
    /// <param name="inputIds"><c>(batch, length)</c> int64.</param>
    /// <param name="attentionMask"><c>(batch, length)</c>, 1 for tokens, 0 for padding.</param>
    /// <param name="tokenTypeIds"><c>(batch, length)</c> int64.</param>
    /// <returns>The last hidden states <c>(batch, length, hidden)</c> (Hugging Face's <c>last_hidden_state</c>).</returns>
    public override Tensor forward(Tensor inputIds, Tensor attentionMask, Tensor tokenTypeIds)
    {
        Tensor hidden = embeddings.call(inputIds, tokenTypeIds);
        return encoder.call(hidden, AdditiveMask(attentionMask, hidden.dtype));
    }

    /// <summary>Applies the pooler, <c>tanh(dense(h[:, 0]))</c> (Hugging Face's <c>pooler_output</c>).</summary>
    /// <param name="hidden">The last hidden states <c>(batch, length, hidden)</c>.</param>
    /// <returns><c>(batch, hidden)</c>.</returns>
    public Tensor Pool(Tensor hidden) => pooler.call(hidden);

    /// <summary>
    /// The extended attention mask of Hugging Face's BERT: <c>(1 − mask)·min(dtype)</c>, shape
    /// <c>(batch, 1, 1, length)</c>, added to every query row's scores.
    /// </summary>
    /// <param name="attentionMask"><c>(batch, length)</c>, 1 for tokens, 0 for padding.</param>
    /// <param name="dtype">The scores' dtype.</param>
    /// <returns>The additive mask.</returns>
    internal static Tensor AdditiveMask(Tensor attentionMask, ScalarType dtype)
    {
        using var min = (dtype == ScalarType.Float64 ? double.MinValue : float.MinValue).ToScalar();
        return ones_like(attentionMask, dtype: dtype).sub(attentionMask.to_type(dtype)).mul(min).unsqueeze(1).unsqueeze(2);
    }
}

/// <summary>
/// <c>BertForSequenceClassification</c>: <c>bert</c> then <c>dropout</c> and <c>classifier</c> (a linear layer,
/// hidden → labels; 1 output for regression).
/// </summary>
public sealed class BertForSequenceClassification : SequenceClassifier
{
    private readonly BertModel bert;
    private readonly Dropout dropout;
    // Typed as a module, not Linear (sealed), so that an AdapterBank can swap in its routed head (issue 21).
    private readonly nn.Module<Tensor, Tensor> classifier;

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
    public override Tensor forward(Tensor inputIds, Tensor attentionMask, Tensor tokenTypeIds) =>
        classifier.call(dropout.call(PoolHidden(bert.call(inputIds, attentionMask, tokenTypeIds), attentionMask)));

    /// <inheritdoc />
    public override Tensor Encode(Tensor inputIds, Tensor attentionMask, Tensor tokenTypeIds) =>
        bert.call(inputIds, attentionMask, tokenTypeIds);

    /// <inheritdoc />
    public override Tensor Pool(Tensor hidden) => bert.Pool(hidden);
}
