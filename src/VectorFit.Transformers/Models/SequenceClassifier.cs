using TorchSharp;
using static TorchSharp.torch;

namespace VectorFit.Transformers.Models;

/// <summary>
/// A transformer encoder with a sequence classification/regression head, laid out (parameter names
/// included) like the Hugging Face <c>*ForSequenceClassification</c> model of its checkpoint.
/// </summary>
public abstract class SequenceClassifier : nn.Module<Tensor, Tensor, Tensor, Tensor>
{
    /// <summary>Initialises the common fields.</summary>
    /// <param name="name">The module's name.</param>
    /// <param name="config">The model configuration.</param>
    /// <param name="numLabels">Outputs of the head (classes, or 1 for regression).</param>
    protected SequenceClassifier(string name, TransformerConfig config, int numLabels)
        : base(name)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentOutOfRangeException.ThrowIfLessThan(numLabels, 1);
        Config = config;
        NumLabels = numLabels;
    }

    /// <summary>The configuration the model was built from.</summary>
    public TransformerConfig Config { get; }

    /// <summary>Outputs of the head (classes, or 1 for regression).</summary>
    public int NumLabels { get; }

    /// <summary>Parameter-name prefixes of the task head (the classifier), trained in every variant (never part of AVF).</summary>
    public abstract IReadOnlyList<string> HeadPrefixes { get; }

    /// <summary>The pooler's parameter-name prefix (<c>bert.pooler.</c>, <c>pooler.</c>).</summary>
    public abstract string PoolerPrefix { get; }

    /// <summary>How the hidden states become the head's input (default <see cref="Pooling.Pooler"/>, Hugging Face's choice).</summary>
    public Pooling Pooling { get; set; } = Pooling.Pooler;

    /// <summary>The prefixes trained fully with the head: the classifier, and the pooler when <see cref="Pooling"/> uses it.</summary>
    public IReadOnlyList<string> TrainedHeadPrefixes => Pooling == Pooling.Pooler ? [PoolerPrefix, .. HeadPrefixes] : HeadPrefixes;

    /// <summary>
    /// Prefixes a base (pre-training) checkpoint may lack; the loader initialises them (normal(0, initializer_range)
    /// weights, zero biases) and the trainer then trains them with the head.
    /// </summary>
    public abstract IReadOnlyList<string> OptionalPrefixes { get; }

    /// <summary>The encoder's prefix in Hugging Face checkpoints (<c>bert</c>, <c>deberta</c>).</summary>
    public abstract string BaseModelPrefix { get; }

    /// <summary>
    /// Checkpoint keys this model does not use and may ignore (pre-training heads, position-id buffers),
    /// as Hugging Face's <c>_keys_to_ignore_on_load_unexpected</c>; any other unknown key is an error.
    /// </summary>
    public abstract IReadOnlyList<string> IgnoredCheckpointPrefixes { get; }

    /// <summary>How this model's keys relate to a checkpoint's (for <see cref="CheckpointLoader"/>).</summary>
    internal CheckpointLayout Layout => new(BaseModelPrefix, IsBaseModel: false, OptionalPrefixes, IgnoredCheckpointPrefixes, Config.InitializerRange);

    /// <summary>Computes the head's outputs.</summary>
    /// <param name="inputIds">Token ids <c>(batch, length)</c>, int64.</param>
    /// <param name="attentionMask"><c>(batch, length)</c> int64, 1 for tokens, 0 for padding.</param>
    /// <param name="tokenTypeIds">Segment ids <c>(batch, length)</c>, int64.</param>
    /// <returns>Logits <c>(batch, labels)</c> (regression: <c>(batch, 1)</c>).</returns>
    public abstract override Tensor forward(Tensor inputIds, Tensor attentionMask, Tensor tokenTypeIds);

    /// <summary>Runs the encoder only (no pooler, no head).</summary>
    /// <param name="inputIds">Token ids <c>(batch, length)</c>, int64.</param>
    /// <param name="attentionMask"><c>(batch, length)</c> int64, 1 for tokens, 0 for padding.</param>
    /// <param name="tokenTypeIds">Segment ids <c>(batch, length)</c>, int64.</param>
    /// <returns>The last hidden states <c>(batch, length, hidden)</c>.</returns>
    public abstract Tensor Encode(Tensor inputIds, Tensor attentionMask, Tensor tokenTypeIds);

    /// <summary>Applies the pooler to encoder output (BERT: <c>tanh(dense(h[:, 0]))</c>; DeBERTa: <c>ContextPooler</c>).</summary>
    /// <param name="hidden">The last hidden states <c>(batch, length, hidden)</c>.</param>
    /// <returns>The pooled summary <c>(batch, hidden)</c>.</returns>
    public abstract Tensor Pool(Tensor hidden);

    /// <summary>Pools the hidden states as <see cref="Pooling"/> says.</summary>
    /// <param name="hidden">The last hidden states <c>(batch, length, hidden)</c>.</param>
    /// <param name="attentionMask"><c>(batch, length)</c> int64, 1 for tokens, 0 for padding.</param>
    /// <returns><c>(batch, hidden)</c>.</returns>
    public Tensor PoolHidden(Tensor hidden, Tensor attentionMask)
    {
        ArgumentNullException.ThrowIfNull(hidden);
        ArgumentNullException.ThrowIfNull(attentionMask);
        switch (Pooling)
        {
            case Pooling.Pooler:
                return Pool(hidden);
            case Pooling.Cls:
                return hidden.select(1, 0);
            default:
                using (var scope = NewDisposeScope())
                {
                    using var tiny = 1e-9.ToScalar();
                    Tensor mask = attentionMask.unsqueeze(-1).to_type(hidden.dtype);
                    Tensor sum = hidden.mul(mask).sum(1);
                    Tensor count = mask.sum(1).clamp_min(tiny);
                    return sum.div(count).MoveToOuterDisposeScope();
                }
        }
    }

    /// <summary>Builds the model <paramref name="config"/> describes, with random weights.</summary>
    /// <param name="config">The model configuration.</param>
    /// <param name="numLabels">Outputs of the head.</param>
    /// <returns>A BERT or DeBERTa-v2 classifier.</returns>
    public static SequenceClassifier Create(TransformerConfig config, int numLabels)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        return config.IsDeberta
            ? new DebertaV2ForSequenceClassification(config, numLabels)
            : new BertForSequenceClassification(config, numLabels);
    }

    /// <summary>
    /// Loads a Hugging Face checkpoint folder (<c>config.json</c> and <c>model.safetensors</c>) into the classifier its
    /// <c>model_type</c> names (<see cref="BertForSequenceClassification"/> or <see cref="DebertaV2ForSequenceClassification"/>),
    /// like <c>AutoModelForSequenceClassification.from_pretrained</c>. A base checkpoint (no head) gets a freshly
    /// initialised head (and pooler); <see cref="CheckpointLoader.Load"/> also returns the report of what was loaded.
    /// </summary>
    /// <param name="folder">The checkpoint folder.</param>
    /// <param name="numLabels">Outputs of the head; by default the checkpoint's <c>id2label</c>/<c>num_labels</c>, else 2.</param>
    /// <returns>The model, in training mode, on the CPU.</returns>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException"><c>config.json</c> or <c>model.safetensors</c> is missing (a folder with only
    /// <c>pytorch_model.bin</c> is refused with how to convert it).</exception>
    /// <exception cref="CheckpointMismatchException">The weights do not fit the model <c>config.json</c> describes.</exception>
    public static SequenceClassifier FromPretrained(string folder, int? numLabels = null)
    {
        int labels = numLabels ?? CheckpointLoader.ReadConfig(folder).NumLabels ?? 2;
        return CheckpointLoader.Load(folder, labels).Model;
    }

    /// <summary>Whether <paramref name="parameterName"/> lies under one of <paramref name="prefixes"/>.</summary>
    /// <param name="parameterName">A state_dict key.</param>
    /// <param name="prefixes">Prefixes ending with a dot.</param>
    /// <returns>Whether it matches.</returns>
    public static bool UnderAny(string parameterName, IEnumerable<string> prefixes) =>
        prefixes.Any(p => parameterName.StartsWith(p, StringComparison.Ordinal));
}
