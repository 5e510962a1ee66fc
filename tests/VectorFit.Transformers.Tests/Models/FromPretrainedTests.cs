using TorchSharp;
using VectorFit.Transformers.Models;
using VectorFit.Transformers.Tests.TestSupport;
using static TorchSharp.torch;

namespace VectorFit.Transformers.Tests.Models;

/// <summary><c>FromPretrained</c> on Hugging Face folders, and the models as TorchSharp modules (hooks).</summary>
[Collection("libtorch")]
public sealed class FromPretrainedTests
{
    [Theory]
    [InlineData("bert")]
    [InlineData("deberta-v2")]
    public void The_bare_encoder_loads_a_checkpoint_with_heads_and_encodes_as_the_classifier_does(string modelType)
    {
        using var dir = new TempDirectory();
        var config = modelType == "bert" ? TinyCheckpoint.Bert() : TinyCheckpoint.Deberta();
        using var source = TinyCheckpoint.Model(config, seed: 1);
        TinyCheckpoint.Write(dir.Path, source);
        var (ids, mask, types) = TinyCheckpoint.Batch();

        using nn.Module<Tensor, Tensor, Tensor, Tensor> encoder = modelType == "bert" ? BertModel.FromPretrained(dir.Path) : DebertaV2Model.FromPretrained(dir.Path);
        using var fresh = modelType == "bert" ? (nn.Module<Tensor, Tensor, Tensor, Tensor>)new BertModel(config) : new DebertaV2Model(config);
        encoder.eval();
        fresh.eval();
        source.eval();

        using var expected = source.Encode(ids, mask, types);
        using var actual = encoder.call(ids, mask, types);
        using var unloaded = fresh.call(ids, mask, types);
        unloaded.allclose(expected, rtol: 0, atol: 1e-3).Should().BeFalse("the check must be able to fail");
        actual.allclose(expected, rtol: 0, atol: 0).Should().BeTrue("the same weights give the same hidden states");
        string prefix = modelType == "bert" ? "bert." : "deberta.";
        encoder.state_dict().Keys.Should().OnlyContain(k => !k.StartsWith(prefix, StringComparison.Ordinal) && !k.StartsWith("classifier.", StringComparison.Ordinal));
    }

    [Fact]
    public void The_classifier_loads_with_the_head_size_of_the_checkpoint_by_default()
    {
        using var dir = new TempDirectory();
        using var source = TinyCheckpoint.Model(TinyCheckpoint.Bert(), numLabels: 2, seed: 1);
        TinyCheckpoint.Write(dir.Path, source);

        using var model = SequenceClassifier.FromPretrained(dir.Path);
        using var three = SequenceClassifier.FromPretrained(dir.Path, numLabels: 3);

        model.Should().BeOfType<BertForSequenceClassification>();
        model.NumLabels.Should().Be(2);
        model.state_dict()["classifier.weight"].allclose(source.state_dict()["classifier.weight"], rtol: 0, atol: 0).Should().BeTrue();
        three.NumLabels.Should().Be(3);
    }

    [Fact]
    public void A_folder_of_another_model_type_is_refused_naming_the_right_loader()
    {
        using var dir = new TempDirectory();
        using var source = TinyCheckpoint.Model(TinyCheckpoint.Deberta(), seed: 1);
        TinyCheckpoint.Write(dir.Path, source);

        var act = () => BertModel.FromPretrained(dir.Path);

        act.Should().Throw<ArgumentException>().WithMessage("*model_type \"deberta-v2\"*DebertaV2Model.FromPretrained*");
    }

    [Fact]
    public void A_folder_with_only_pytorch_model_bin_is_refused_with_how_to_convert_it()
    {
        using var dir = new TempDirectory();
        dir.Write("config.json", TinyCheckpoint.Bert().ToJson());
        dir.Write("pytorch_model.bin", [0x50, 0x4B]);

        var act = () => BertModel.FromPretrained(dir.Path);

        act.Should().Throw<FileNotFoundException>().WithMessage("*model.safetensors does not exist*pytorch_model.bin*safetensors.torch.save_file*");
    }

    [Fact]
    public void A_forward_hook_on_a_layer_sees_each_call()
    {
        using var model = TinyCheckpoint.Model(TinyCheckpoint.Bert());
        var (ids, mask, types) = TinyCheckpoint.Batch();
        var layer = (nn.Module<Tensor, Tensor, Tensor>)model.named_modules().Single(m => m.name == "bert.encoder.layer.1").module;
        long[]? seen = null;
        var handle = layer.register_forward_hook((module, hidden, additiveMask, output) =>
        {
            seen = output.shape;
            return output;
        });

        using var logits = model.call(ids, mask, types);
        handle.remove();

        seen.Should().Equal(2, 6, 16);
    }
}
