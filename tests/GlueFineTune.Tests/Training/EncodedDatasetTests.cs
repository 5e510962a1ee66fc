using GlueFineTune.Data;
using VectorFit.Transformers.Tokenization;
using GlueFineTune.Training;

namespace GlueFineTune.Tests.Training;

[Collection("libtorch")]
public sealed class EncodedDatasetTests
{
    [Fact]
    public void BatchesArePaddedToTheirLongestRowWithLabels()
    {
        var tokenizer = new WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", .. TinyCheckpoint.Words]);
        GlueExample[] examples = [GlueExample.Classification("the movie was good", null, 1), GlueExample.Classification("bad", null, 0)];
        var data = new EncodedDataset(tokenizer, examples, GlueTask.Sst2, maxLength: 16, vocabularyLimit: 15);

        TensorBatch batch = data.MakeBatch([1, 0]);

        batch.InputIds.shape.Should().Equal(2, 6);
        batch.InputIds.data<long>().ToArray().Should().Equal(2, 9, 3, 0, 0, 0, 2, 5, 6, 7, 8, 3);
        batch.AttentionMask.data<long>().ToArray().Should().Equal(1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1);
        batch.Labels.data<long>().ToArray().Should().Equal(0, 1);
    }

    [Fact]
    public void RegressionTargetsAreFloatScores()
    {
        var tokenizer = new WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", .. TinyCheckpoint.Words]);
        var data = new EncodedDataset(tokenizer, [GlueExample.Regression("a film", "a movie", 3.5f)], GlueTask.Stsb, 16, 15);

        data.MakeBatch([0]).Labels.data<float>().ToArray().Should().Equal(3.5f);
    }

    [Fact]
    public void TokenizerLargerThanTheModelVocabularyIsRejected()
    {
        var tokenizer = new WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", .. TinyCheckpoint.Words]);

        var act = () => new EncodedDataset(tokenizer, [GlueExample.Classification("good", null, 1)], GlueTask.Sst2, 16, vocabularyLimit: 10);

        act.Should().Throw<ArgumentException>().WithMessage("*15 entries but the model's vocab_size is 10*");
    }
}
