using TorchSharp;
using System.Diagnostics;
using VectorFit.Transformers.Models;
using VectorFit.Transformers.Tokenization;
using TorchSharp.Modules;
using VectorFit;
using static TorchSharp.torch;

namespace GlueFineTune.Demo;

/// <summary>The outcome of the demo's pre-training.</summary>
/// <param name="Steps">Optimizer steps.</param>
/// <param name="FirstLoss">Mean loss (both objectives) of the first tenth of the steps.</param>
/// <param name="LastLoss">Mean loss of the last tenth of the steps.</param>
/// <param name="Elapsed">Wall-clock time.</param>
internal sealed record PretrainingResult(int Steps, double FirstLoss, double LastLoss, TimeSpan Elapsed);

/// <summary>
/// Pre-training of the whole toy BERT with two objectives, as BERT pairs a token-level and a sentence-level one:
/// masked-language modelling on every training sentence (15% of the words, at least one per sentence, become
/// <c>[MASK]</c> and are predicted through a transform and a decoder tied to the word embeddings), and a source
/// task on the pooled <c>[CLS]</c> (in place of next-sentence prediction) for the sentences that have a source label.
/// </summary>
internal sealed class DemoPretraining : nn.Module
{
    /// <summary>The integer 1, held for the whole native call (see ScalarLifetimeTests).</summary>
    private static readonly Scalar One = 1.ToScalar();

    private readonly Linear transform;
    private readonly LayerNorm norm;
    private readonly Parameter decoderBias;
    private readonly Linear sourceClassifier;

    private DemoPretraining(long hidden, long vocabulary)
        : base(nameof(DemoPretraining))
    {
        transform = nn.Linear(hidden, hidden);
        norm = nn.LayerNorm(hidden, eps: 1e-12);
        decoderBias = nn.Parameter(zeros(vocabulary));
        sourceClassifier = nn.Linear(hidden, 2);
        RegisterComponents();
    }

    /// <summary>Pre-trains every parameter of <paramref name="model"/> but its classifier on <paramref name="sentences"/>.</summary>
    /// <param name="model">The toy BERT.</param>
    /// <param name="tokenizer">Its tokenizer.</param>
    /// <param name="sentences">The training sentences.</param>
    /// <param name="sourceLabels">Per sentence its source-task class (0 or 1), or −100 when it has none.</param>
    /// <param name="maskId">The id of <c>[MASK]</c>.</param>
    /// <param name="steps">Optimizer steps.</param>
    /// <param name="batchSize">Sentences per step.</param>
    /// <param name="learningRate">AdamW's rate (linear decay to 0).</param>
    /// <param name="seed">Seed of the masking and the sampling.</param>
    /// <returns>The loss before and after.</returns>
    public static PretrainingResult Run(SequenceClassifier model, ITokenizer tokenizer, IReadOnlyList<string> sentences, IReadOnlyList<int> sourceLabels, int maskId, int steps, int batchSize, double learningRate, int seed)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(sentences);
        ArgumentNullException.ThrowIfNull(sourceLabels);
        var clock = Stopwatch.StartNew();
        SpecialTokenIds special = tokenizer.SpecialTokens;
        int[][] encoded = sentences.Select(s => tokenizer.TokenizeToIds(s).ToArray()).ToArray();
        long vocabulary = model.Config.VocabSize;
        Parameter wordEmbeddings = model.named_parameters().First(p => p.name.EndsWith("word_embeddings.weight", StringComparison.Ordinal)).parameter;
        using var heads = new DemoPretraining(model.Config.HiddenSize, vocabulary);
        var parameters = model.named_parameters().Where(p => !SequenceClassifier.UnderAny(p.name, ["classifier."]))
            .Select(p => p.parameter).Concat(heads.parameters()).ToList();
        using var optimizer = new VectorFit.Optim.AdamW(parameters, lr: learningRate, weight_decay: 0);
        var random = new Random(seed);
        var losses = new List<double>(steps);
        model.train();
        heads.train();
        for (int step = 1; step <= steps; step++)
        {
            using var scope = NewDisposeScope();
            foreach (var group in optimizer.ParamGroups)
            {
                group.LearningRate = learningRate * (steps - step + 1) / steps;
            }

            int[] picks = Enumerable.Range(0, batchSize).Select(_ => random.Next(encoded.Length)).ToArray();
            var rows = picks.Select(i => encoded[i]).ToArray();
            var (ids, mask, labels, length) = MakeBatch(rows, special, maskId, random);
            long[] shape = [rows.Length, length];
            Tensor inputIds = tensor(ids, shape);
            Tensor hidden = model.Encode(inputIds, tensor(mask, shape), zeros_like(inputIds));

            Tensor transformed = heads.norm.call(nn.functional.gelu(heads.transform.call(hidden)));
            Tensor tokenLogits = transformed.matmul(wordEmbeddings.t()).add(heads.decoderBias, One);
            Tensor maskedLm = nn.functional.cross_entropy(tokenLogits.reshape(-1, vocabulary), tensor(labels));

            Tensor loss = maskedLm;
            long[] source = picks.Select(i => (long)sourceLabels[i]).ToArray();
            if (source.Any(l => l >= 0))
            {
                Tensor sentenceLogits = heads.sourceClassifier.call(model.Pool(hidden));
                loss = loss.add(nn.functional.cross_entropy(sentenceLogits, tensor(source)), One);
            }

            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
            losses.Add(loss.item<float>());
        }

        int tenth = Math.Max(1, steps / 10);
        return new PretrainingResult(steps, losses.Take(tenth).Average(), losses.TakeLast(tenth).Average(), clock.Elapsed);
    }

    /// <summary>Builds <c>[CLS] words [SEP]</c> rows padded to the longest, with 15% of the words masked (label = the word, −100 elsewhere).</summary>
    private static (long[] Ids, long[] Mask, long[] Labels, int Length) MakeBatch(int[][] rows, SpecialTokenIds special, int maskId, Random random)
    {
        int length = rows.Max(r => r.Length) + 2;
        var ids = new long[rows.Length * length];
        var mask = new long[rows.Length * length];
        var labels = new long[rows.Length * length];
        Array.Fill(ids, special.Pad);
        Array.Fill(labels, -100L);
        for (int b = 0; b < rows.Length; b++)
        {
            int offset = b * length;
            int[] words = rows[b];
            ids[offset] = special.Cls;
            ids[offset + words.Length + 1] = special.Sep;
            mask.AsSpan(offset, words.Length + 2).Fill(1);
            int forced = random.Next(words.Length);
            for (int i = 0; i < words.Length; i++)
            {
                int position = offset + 1 + i;
                bool masked = i == forced || random.NextDouble() < 0.15;
                ids[position] = masked ? maskId : words[i];
                labels[position] = masked ? words[i] : -100;
            }
        }

        return (ids, mask, labels, length);
    }
}
