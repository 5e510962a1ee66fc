using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace VectorFit.Transformers.Models;

/// <summary>
/// DeBERTa-v2/v3's input layer: word embeddings (plus absolute positions only when
/// <c>position_biased_input</c>, plus token types only when <c>type_vocab_size &gt; 0</c>), LayerNorm, zeroed
/// at padding positions, then dropout. DeBERTa-v3 registers only <c>word_embeddings</c> and <c>LayerNorm</c>.
/// </summary>
public sealed class DebertaV2Embeddings : nn.Module<Tensor, Tensor, Tensor, Tensor>
{
    private readonly Embedding word_embeddings;
    private readonly Embedding? position_embeddings;
    private readonly Embedding? token_type_embeddings;

    [ComponentName(Name = "LayerNorm")]
    private readonly LayerNorm _layerNorm;

    private readonly Dropout dropout;

    /// <summary>Builds the embeddings of <paramref name="config"/>.</summary>
    /// <param name="config">The model configuration.</param>
    public DebertaV2Embeddings(TransformerConfig config)
        : base(nameof(DebertaV2Embeddings))
    {
        word_embeddings = nn.Embedding(config.VocabSize, config.HiddenSize, padding_idx: config.PadTokenId);
        position_embeddings = config.PositionBiasedInput ? nn.Embedding(config.MaxPositionEmbeddings, config.HiddenSize) : null;
        token_type_embeddings = config.TypeVocabSize > 0 ? nn.Embedding(config.TypeVocabSize, config.HiddenSize) : null;
        _layerNorm = nn.LayerNorm(config.HiddenSize, eps: config.LayerNormEps);
        dropout = nn.Dropout(config.HiddenDropoutProb);
        MaxPositions = config.PositionBiasedInput ? config.MaxPositionEmbeddings : int.MaxValue;
        RegisterComponents();
    }

    /// <summary>The longest sequence the absolute position table covers (unbounded without one).</summary>
    public int MaxPositions { get; }

    /// <summary>Embeds a batch.</summary>
    /// <param name="inputIds">Token ids <c>(batch, length)</c>, int64.</param>
    /// <param name="tokenTypeIds">Segment ids <c>(batch, length)</c>, int64.</param>
    /// <param name="attentionMask"><c>(batch, length)</c>, 1 for tokens, 0 for padding.</param>
    /// <returns>Hidden states <c>(batch, length, hidden)</c>, zero at padding positions (before dropout).</returns>
    public override Tensor forward(Tensor inputIds, Tensor tokenTypeIds, Tensor attentionMask)
    {
        long length = inputIds.shape[1];
        if (length > MaxPositions)
        {
            throw new ArgumentException($"sequence length {length} exceeds max_position_embeddings {MaxPositions}; truncate the input to at most {MaxPositions} tokens.", nameof(inputIds));
        }

        Tensor sum = word_embeddings.call(inputIds);
        if (position_embeddings is not null)
        {
            using var end = length.ToScalar();
            sum = sum.add(position_embeddings.call(arange(HeldScalars.Zero, end, HeldScalars.One, dtype: ScalarType.Int64, device: inputIds.device).unsqueeze(0)), HeldScalars.One);
        }

        if (token_type_embeddings is not null)
        {
            sum = sum.add(token_type_embeddings.call(tokenTypeIds), HeldScalars.One);
        }

        Tensor normed = _layerNorm.call(sum);
        return dropout.call(normed.mul(attentionMask.unsqueeze(2).to_type(normed.dtype)));
    }
}
